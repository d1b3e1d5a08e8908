package main

// The control commands: once the simulator serves, each line read on stdin changes its
// inventory, or asks about it, and is answered by exactly one JSON line on stdout.
//
// Every change is one the property collector reports to WaitForUpdatesEx watchers:
// creating, powering and destroying go through the simulator's own task methods (called
// in process, through simulator.Service as a RoundTripper, with the locking of a real
// request), and every property is set through simulator.Map.Update while the VM's lock
// is held, as vcsim's own methods do. ReconfigVM_Task is not used: it sets fields
// directly, so no watcher would hear of it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// commandTimeout bounds one command; expect at 10,000 VMs takes a few seconds.
const commandTimeout = 5 * time.Minute

// reply is the one JSON line that answers a command.
type reply struct {
	OK       bool     `json:"ok"`
	Error    string   `json:"error,omitempty"`
	VM       string   `json:"vm,omitempty"`
	Series   []series `json:"series,omitempty"`
	Sessions *int     `json:"sessions,omitempty"`
}

func failure(err error) reply {
	return reply{Error: err.Error()}
}

// controller runs the commands against the running simulator.
type controller struct {
	// client calls the simulator in process, as Model.Create does: no HTTP and no
	// session of its own (it runs as vcsim's internal session), so it never shows in
	// the session count.
	client   *vim25.Client
	endpoint *url.URL
	caFile   string
	options  options
	vmFolder types.ManagedObjectReference
	pool     types.ManagedObjectReference
}

func newController(model *simulator.Model, endpoint *url.URL, caFile string, o options) (*controller, error) {
	client, err := vim25.NewClient(context.Background(), model.Service)
	if err != nil {
		return nil, fmt.Errorf("in-process client: %w", err)
	}

	dc, ok := simulator.Map.Any("Datacenter").(*simulator.Datacenter)
	if !ok {
		return nil, errors.New("no datacenter in the model")
	}
	cluster, ok := simulator.Map.Any("ClusterComputeResource").(*simulator.ClusterComputeResource)
	if !ok || cluster.ResourcePool == nil {
		return nil, errors.New("no cluster resource pool in the model")
	}

	return &controller{
		client:   client,
		endpoint: endpoint,
		caFile:   caFile,
		options:  o,
		vmFolder: dc.VmFolder,
		pool:     *cluster.ResourcePool,
	}, nil
}

// handle runs one command line; ok is false for a blank line, which gets no answer.
func (c *controller) handle(line string) (r reply, ok bool) {
	verb, args := cut(strings.TrimRight(line, "\r\n"))
	if verb == "" {
		return reply{}, false
	}

	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()

	began := time.Now()
	r = c.run(ctx, verb, args)
	if r.OK {
		log.Printf("command %s: done in %s", verb, time.Since(began).Round(time.Millisecond))
	} else {
		log.Printf("command %s: %s", verb, r.Error)
	}
	return r, true
}

func (c *controller) run(ctx context.Context, verb, args string) reply {
	switch verb {
	case "create":
		return c.create(ctx, args)
	case "destroy":
		return c.destroy(ctx, args)
	case "annotate":
		return c.annotate(args)
	case "rename":
		return c.rename(args)
	case "resize":
		return c.resize(args)
	case "expect":
		return c.expect(ctx, args)
	case "sessions":
		return c.sessions(ctx, args)
	}
	return failure(fmt.Errorf("unknown command %q", verb))
}

// create NAME VCPUS MEMORY_MB ANNOTATION|-
func (c *controller) create(ctx context.Context, args string) reply {
	name, rest := cut(args)
	vcpusArg, rest := cut(rest)
	memoryArg, rest := cut(rest)
	if name == "" {
		return failure(errors.New("usage: create NAME VCPUS MEMORY_MB ANNOTATION|-"))
	}
	vcpus, memoryMB, err := sizes(vcpusArg, memoryArg)
	if err != nil {
		return failure(err)
	}
	note, err := annotationArg(rest)
	if err != nil {
		return failure(err)
	}
	if vms := c.vmsNamed(name); len(vms) > 0 {
		return failure(fmt.Errorf("a VM named %s exists: %s", name, vms[0].Self))
	}

	ref, err := c.createVM(ctx, name, vcpus, memoryMB, note)
	if err != nil {
		return failure(err)
	}
	return reply{OK: true, VM: ref.Value}
}

// createVM creates the VM as Model.Create does, powers it on, then sets every value the
// exporter reads once more through Map.Update. CreateVM_Task announces the VM before it
// has its name and sizes, and a collector may read it in between, so this last update is
// what guarantees every watcher ends up with the final values.
func (c *controller) createVM(ctx context.Context, name string, vcpus, memoryMB int32, note *string) (types.ManagedObjectReference, error) {
	spec := types.VirtualMachineConfigSpec{
		Name:     name,
		GuestId:  string(types.VirtualMachineGuestOsIdentifierOtherGuest),
		NumCPUs:  vcpus,
		MemoryMB: int64(memoryMB),
		Files:    &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
	}
	folder := object.NewFolder(c.client, c.vmFolder)
	pool := object.NewResourcePool(c.client, c.pool)

	task, err := folder.CreateVM(ctx, spec, pool, nil)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return types.ManagedObjectReference{}, fmt.Errorf("CreateVM_Task: %w", err)
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return types.ManagedObjectReference{}, fmt.Errorf("CreateVM_Task returned %T", info.Result)
	}

	if err := waitTask(ctx, "PowerOnVM_Task", func() (*object.Task, error) {
		return object.NewVirtualMachine(c.client, ref).PowerOn(ctx)
	}); err != nil {
		return ref, err
	}

	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return ref, fmt.Errorf("%s vanished", ref)
	}
	seed := vmSeed{name: name, numCPU: vcpus, memoryMB: memoryMB, annotation: note}
	simulator.Map.WithLock(vm, func() { applySeed(vm, seed) })
	return ref, nil
}

// destroy NAME: powered off first if needed, as vCenter refuses to destroy a running VM.
func (c *controller) destroy(ctx context.Context, args string) reply {
	vm, err := c.onlyVM(args)
	if err != nil {
		return failure(err)
	}
	var state types.VirtualMachinePowerState
	simulator.Map.WithLock(vm, func() { state = vm.Runtime.PowerState })
	handle := object.NewVirtualMachine(c.client, vm.Self)

	if state != types.VirtualMachinePowerStatePoweredOff {
		if err := waitTask(ctx, "PowerOffVM_Task", func() (*object.Task, error) { return handle.PowerOff(ctx) }); err != nil {
			return failure(err)
		}
	}
	if err := waitTask(ctx, "Destroy_Task", func() (*object.Task, error) { return handle.Destroy(ctx) }); err != nil {
		return failure(err)
	}
	return reply{OK: true, VM: vm.Self.Value}
}

// annotate NAME ANNOTATION|- sets config.annotation and summary.config.annotation; `-`
// sets them empty, which vcsim reports as unset.
func (c *controller) annotate(args string) reply {
	name, rest := cut(args)
	note, err := annotationArg(rest)
	if err != nil {
		return failure(err)
	}
	vm, err := c.onlyVM(name)
	if err != nil {
		return failure(err)
	}
	text := ""
	if note != nil {
		text = *note
	}
	update(vm, []types.PropertyChange{
		{Name: "config.annotation", Val: text},
		{Name: "summary.config.annotation", Val: text},
	})
	return reply{OK: true, VM: vm.Self.Value}
}

// rename OLD NEW sets every copy of the name, as Rename_Task does for `name` alone.
func (c *controller) rename(args string) reply {
	oldName, rest := cut(args)
	newName, extra := cut(rest)
	if newName == "" || extra != "" {
		return failure(errors.New("usage: rename OLD NEW"))
	}
	vm, err := c.onlyVM(oldName)
	if err != nil {
		return failure(err)
	}
	if others := c.vmsNamed(newName); len(others) > 0 {
		return failure(fmt.Errorf("a VM named %s exists: %s", newName, others[0].Self))
	}
	update(vm, []types.PropertyChange{
		{Name: "name", Val: newName},
		{Name: "config.name", Val: newName},
		{Name: "summary.config.name", Val: newName},
	})
	return reply{OK: true, VM: vm.Self.Value}
}

// resize NAME VCPUS MEMORY_MB sets the hardware and the summary figures.
func (c *controller) resize(args string) reply {
	name, rest := cut(args)
	vcpusArg, rest := cut(rest)
	memoryArg, extra := cut(rest)
	if extra != "" {
		return failure(errors.New("usage: resize NAME VCPUS MEMORY_MB"))
	}
	vcpus, memoryMB, err := sizes(vcpusArg, memoryArg)
	if err != nil {
		return failure(err)
	}
	vm, err := c.onlyVM(name)
	if err != nil {
		return failure(err)
	}
	update(vm, []types.PropertyChange{
		{Name: "config.hardware.numCPU", Val: vcpus},
		{Name: "summary.config.numCpu", Val: vcpus},
		{Name: "config.hardware.memoryMB", Val: memoryMB},
		{Name: "summary.config.memorySizeMB", Val: memoryMB},
	})
	return reply{OK: true, VM: vm.Self.Value}
}

// expect reads the inventory through the API, as at start, and answers the series.
func (c *controller) expect(ctx context.Context, args string) reply {
	if args != "" {
		return failure(errors.New("usage: expect"))
	}
	series, err := currentExpectations(ctx, c.endpoint, c.caFile, c.options)
	if err != nil {
		return failure(err)
	}
	return reply{OK: true, Series: series}
}

// sessions counts the sessions the SessionManager holds: its sessionList, which vcsim
// fills from its map of live sessions (a session leaves it at Logout, TerminateSession
// or idle expiry). The in-process client's own session is not in that map.
func (c *controller) sessions(ctx context.Context, args string) reply {
	if args != "" {
		return failure(errors.New("usage: sessions"))
	}
	var manager mo.SessionManager
	ref := *c.client.ServiceContent.SessionManager
	err := property.DefaultCollector(c.client).RetrieveOne(ctx, ref, []string{"sessionList"}, &manager)
	if err != nil {
		return failure(err)
	}
	n := len(manager.SessionList)
	return reply{OK: true, Sessions: &n}
}

// vmsNamed lists the VMs of the vm folder named name, reading each name under its
// VM's lock.
func (c *controller) vmsNamed(name string) []*simulator.VirtualMachine {
	folder, ok := simulator.Map.Get(c.vmFolder).(*simulator.Folder)
	if !ok {
		return nil
	}
	var children []types.ManagedObjectReference
	simulator.Map.WithLock(folder, func() {
		children = append(children, folder.ChildEntity...)
	})

	var found []*simulator.VirtualMachine
	for _, ref := range children {
		vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		var vmName string
		simulator.Map.WithLock(vm, func() { vmName = vm.Name })
		if vmName == name {
			found = append(found, vm)
		}
	}
	return found
}

// onlyVM is the one VM named name.
func (c *controller) onlyVM(name string) (*simulator.VirtualMachine, error) {
	if name == "" || strings.ContainsAny(name, " \t") {
		return nil, errors.New("one VM name expected")
	}
	vms := c.vmsNamed(name)
	switch len(vms) {
	case 0:
		return nil, fmt.Errorf("no VM named %s", name)
	case 1:
		return vms[0], nil
	}
	return nil, fmt.Errorf("%d VMs named %s", len(vms), name)
}

// update applies changes under the VM's lock, so that no request reads it half done,
// and notifies every WaitForUpdatesEx watcher.
func update(vm *simulator.VirtualMachine, changes []types.PropertyChange) {
	simulator.Map.WithLock(vm, func() { simulator.Map.Update(vm, changes) })
}

// waitTask starts a task and waits for its end; vcsim runs tasks synchronously.
func waitTask(ctx context.Context, name string, start func() (*object.Task, error)) error {
	task, err := start()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := task.Wait(ctx); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// cut splits off the first word of s; words are separated by spaces or tabs.
func cut(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

func sizes(vcpusArg, memoryArg string) (vcpus, memoryMB int32, err error) {
	v, err := strconv.ParseInt(vcpusArg, 10, 32)
	if err != nil || v < 1 {
		return 0, 0, fmt.Errorf("bad VCPUS %q: a positive integer expected", vcpusArg)
	}
	m, err := strconv.ParseInt(memoryArg, 10, 32)
	if err != nil || m < 1 {
		return 0, 0, fmt.Errorf("bad MEMORY_MB %q: a positive integer expected", memoryArg)
	}
	return int32(v), int32(m), nil
}

// annotationArg reads the rest of a line as an annotation: `-` for none, a JSON string
// literal (`"..."`) for any text (newlines, leading blanks), anything else verbatim (a
// CDS annotation is a JSON object, written as is).
func annotationArg(rest string) (*string, error) {
	switch {
	case rest == "":
		return nil, errors.New("annotation missing (- for none)")
	case rest == "-":
		return nil, nil
	case strings.HasPrefix(rest, `"`):
		var text string
		if err := json.Unmarshal([]byte(rest), &text); err != nil {
			return nil, fmt.Errorf("bad JSON string annotation: %v", err)
		}
		return &text, nil
	}
	return &rest, nil
}
