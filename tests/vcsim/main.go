// Command vcsim-launcher starts the govmomi vCenter simulator (vcsim) with an inventory
// seeded like the one a CDS vSphere hatchery works in, then computes, by reading that
// inventory back through the vSphere API, the value every inventory metric of
// cds-vsphere-exporter must have.
//
// The Rust integration tests start it, read the single JSON line it prints on stdout when
// ready (see readyLine), point the exporter at the URL it gives, and compare the scrape
// with the expected series. It serves until stdin is closed or SIGTERM/SIGINT arrives, so
// a test that drops the child's stdin pipe also stops the simulator. Meanwhile each line
// on stdin is a control command (control.go) that changes the inventory or asks about
// it, answered by one JSON line on stdout. Everything else goes to stderr.
//
// Build (GOPATH mode, no network): tests/vcsim/build.sh
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

const (
	datacenterName   = "DC0"
	resourcePoolPath = "/DC0/host/DC0_C0/Resources"
)

type options struct {
	listen      string
	vms         int
	hatchery    string
	serviceType string
	seed        int64
	username    string
	password    string
	idleTimeout time.Duration
	tlsDir      string
}

// readyLine is the one line written to stdout once the simulator serves.
type readyLine struct {
	URL          string   `json:"url"`
	CAFile       string   `json:"ca_file"`
	Datacenter   string   `json:"datacenter"`
	ResourcePool string   `json:"resource_pool"`
	Username     string   `json:"username"`
	Series       []series `json:"series"`
}

func main() {
	log.SetOutput(os.Stderr)
	log.SetPrefix("vcsim-launcher: ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	if err := run(parseFlags()); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.listen, "listen", "127.0.0.1:0", "address the simulator listens on")
	flag.IntVar(&o.vms, "vms", 300, "number of virtual machines in the inventory")
	flag.StringVar(&o.hatchery, "hatchery", "hatchery-vsphere", "name of the hatchery the exporter watches")
	flag.StringVar(&o.serviceType, "service-type", "hatchery", "service_type label of the expected series")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the deterministic inventory mix")
	flag.StringVar(&o.username, "username", "user", "the only user name Login accepts")
	flag.StringVar(&o.password, "password", "pass", "the only password Login accepts")
	flag.DurationVar(&o.idleTimeout, "idle-timeout", 0, "simulator.SessionIdleTimeout (0: sessions never expire)")
	flag.StringVar(&o.tlsDir, "tls-dir", "", "serve HTTPS with a certificate written to DIR/server.pem (plain HTTP when empty)")
	flag.Parse()

	if flag.NArg() > 0 {
		log.Fatalf("unexpected arguments: %v", flag.Args())
	}
	if o.vms < 1 {
		log.Fatalf("-vms must be at least 1")
	}
	if o.username == "" || o.password == "" {
		// vcsim rejects empty credentials whatever Listen.User says.
		log.Fatalf("-username and -password must not be empty")
	}
	return o
}

func run(o options) error {
	in := watchInput()

	// The model's datastore is a temporary directory (one folder per VM) that vcsim
	// makes under os.TempDir(). Pointing TMPDIR at a directory of our own lets one
	// RemoveAll clean it up on every exit path but a second signal.
	workDir, err := ioutil.TempDir("", "vcsim-launcher-")
	if err != nil {
		return err
	}
	defer removeWorkDir(workDir)
	if err := os.Setenv("TMPDIR", workDir); err != nil {
		return err
	}

	type started struct {
		server  *simulator.Server
		line    readyLine
		control *controller
		err     error
	}
	done := make(chan started, 1)
	go func() {
		server, line, control, err := start(o)
		done <- started{server, line, control, err}
	}()

	var s started
	select {
	case s = <-done:
	case <-in.stop:
		// Model.Create cannot be cancelled, and removing its datastore under it makes
		// vcsim panic: let it finish, then clean up (a second signal exits at once).
		log.Printf("stopping once the simulator is built")
		if s = <-done; s.err == nil {
			shutdown(s.server)
		}
		return errors.New("stopped before the simulator was ready")
	}
	if s.err != nil {
		return s.err
	}
	defer shutdown(s.server)

	if err := writeLine(s.line); err != nil {
		return err
	}

	return serveCommands(s.control, in)
}

// serveCommands answers each command line in turn until stdin reaches EOF (after the
// lines before it) or a signal arrives.
func serveCommands(control *controller, in input) error {
	for {
		select {
		case line, ok := <-in.lines:
			if !ok {
				log.Printf("stopping")
				return nil
			}
			r, answer := control.handle(line)
			if !answer {
				continue
			}
			if err := writeLine(r); err != nil {
				return err
			}
		case <-in.signalled:
			log.Printf("stopping")
			return nil
		}
	}
}

// start builds and seeds the inventory, serves it, computes the expectations and makes
// the controller of the commands.
func start(o options) (*simulator.Server, readyLine, *controller, error) {
	began := time.Now()
	model, seeds, err := createInventory(o)
	if err != nil {
		return nil, readyLine{}, nil, err
	}
	created := time.Now()

	simulator.SessionIdleTimeout = o.idleTimeout
	// A Listen.User other than simulator.DefaultLogin makes Login compare user name and
	// password exactly (SessionManager.validLogin); with the default any pair is accepted.
	model.Service.Listen = &url.URL{Host: o.listen, User: url.UserPassword(o.username, o.password)}

	caFile := ""
	if o.tlsDir != "" {
		cert, file, err := writeServerCertificate(o.tlsDir)
		if err != nil {
			return nil, readyLine{}, nil, err
		}
		// Not `new(tls.Config)`: vcsim's built-in certificate (RSA 1024, CA:TRUE) is
		// refused by OpenSSL 3 and rustls even when given as the CA file.
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		caFile = file
	}

	server := model.Service.NewServer()
	endpoint := publicURL(server)

	series, err := expectations(endpoint, caFile, o, seeds)
	if err != nil {
		shutdown(server)
		return nil, readyLine{}, nil, err
	}
	control, err := newController(model, endpoint, caFile, o)
	if err != nil {
		shutdown(server)
		return nil, readyLine{}, nil, err
	}

	log.Printf("serving %s; expectations computed in %s, ready %s after start",
		endpoint, time.Since(created).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))

	return server, readyLine{
		URL:          endpoint.String(),
		CAFile:       caFile,
		Datacenter:   datacenterName,
		ResourcePool: resourcePoolPath,
		Username:     o.username,
		Series:       series,
	}, control, nil
}

// publicURL is the server URL without credentials. vcsim puts the first non-loopback
// address of the machine in the URL when listening on an unspecified address; the tests
// want 127.0.0.1, which the listener accepts in that case too.
func publicURL(server *simulator.Server) *url.URL {
	u := *server.URL
	u.User = nil
	if addr, ok := server.Listener.Addr().(*net.TCPAddr); ok && addr.IP.IsUnspecified() {
		u.Host = net.JoinHostPort("127.0.0.1", fmt.Sprint(addr.Port))
	}
	return &u
}

// writeLine writes value as one line of JSON on stdout: the ready line, then the
// answers to the commands.
func writeLine(value interface{}) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	// Encode writes the whole line, newline included, in one Write.
	return enc.Encode(value)
}

// input is what the launcher hears from outside.
type input struct {
	// stop is closed when stdin reaches EOF or SIGTERM/SIGINT arrives.
	stop <-chan struct{}
	// signalled is closed when SIGTERM/SIGINT arrives.
	signalled <-chan struct{}
	// lines are the lines of stdin, closed at EOF once every line before it is queued.
	lines <-chan string
}

// watchInput starts reading stdin and the signals.
func watchInput() input {
	stop := make(chan struct{})
	signalled := make(chan struct{})
	// Commands sent before the ready line wait here, in order.
	lines := make(chan string, 64)
	var once sync.Once
	closeStop := func(why string) {
		once.Do(func() {
			log.Printf("%s", why)
			close(stop)
		})
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	go func() {
		sig := <-signals
		close(signalled)
		closeStop("received " + sig.String())
		// A second signal means "now": no cleanup, the temporary directory is left.
		sig = <-signals
		log.Printf("received %s again, exiting at once", sig)
		os.Exit(1)
	}()

	go func() {
		err := readLines(os.Stdin, lines)
		close(lines)
		if err != nil {
			closeStop("stdin: " + err.Error())
			return
		}
		closeStop("stdin closed")
	}()

	return input{stop: stop, signalled: signalled, lines: lines}
}

// readLines sends every line of r, however long, to lines; a last line without a
// newline counts too.
func readLines(r io.Reader, lines chan<- string) error {
	reader := bufio.NewReader(r)
	for {
		line, err := reader.ReadString('\n')
		if line != "" {
			lines <- line
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// shutdown stops serving: it closes the listener and cuts every client connection.
// Not Server.Close: it waits for in-flight requests, and vcsim's WaitForUpdatesEx
// without maxWaitSeconds does not notice its client left, so it would wait forever.
func shutdown(server *simulator.Server) {
	if err := server.Listener.Close(); err != nil {
		log.Printf("closing the listener: %v", err)
	}
	server.CloseClientConnections()
}

// removeWorkDir removes the launcher's temporary directory, vcsim's datastore included.
func removeWorkDir(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		log.Printf("removing %s: %v", dir, err)
	}
}
