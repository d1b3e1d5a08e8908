package main

// The inventory: vcsim's model with a single cluster, whose VMs are then renamed,
// resized and annotated (deterministically from -seed) into the mix a CDS vSphere
// hatchery lives in: its workers, provisioned workers and templates, another
// hatchery's workers, hand-made VMs with broken annotations and plain VMs.

import (
	"encoding/json"
	"fmt"
	"log"
	"math/rand"
	"path"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const otherHatchery = "other-hatchery"

var (
	workerModels  = []string{"shared.infra/debian12", "shared.infra/ubuntu22", "shared.infra/rocky9"}
	flavors       = []string{"", "b2-7", "c2-15"}
	memorySizesMB = []int32{512, 1024, 2048, 4096, 8192}
	// Monday 2026-01-05 00:00:00 UTC: the `created` dates spread from there.
	createdBase = time.Date(2026, time.January, 5, 0, 0, 0, 0, time.UTC)
)

// The runtime set on the cluster's root pool. The six figures the exporter reads
// (maxUsage, overallUsage, unreservedForVm of cpu and memory) all differ from each other,
// from the other fields and from vcsim's fixed template (0, 4121, 1007681536), so a
// swapped or mis-read field cannot go unnoticed.
var poolRuntime = types.ResourcePoolRuntimeInfo{
	Cpu: types.ResourcePoolResourceUsage{
		ReservationUsed:      6000,
		ReservationUsedForVm: 4800,
		UnreservedForPool:    46800,
		UnreservedForVm:      44321,
		OverallUsage:         13377,
		MaxUsage:             52800,
	},
	Memory: types.ResourcePoolResourceUsage{
		ReservationUsed:      21474836480,
		ReservationUsedForVm: 17179869184,
		UnreservedForPool:    182536110080,
		UnreservedForVm:      171798691840,
		OverallUsage:         93415538688,
		MaxUsage:             274877906944,
	},
	OverallStatus: types.ManagedEntityStatusGreen,
}

// role is what a VM is made to look like.
type role int

const (
	roleWorker role = iota
	roleProvisioned
	roleTemplate
	roleOtherHatchery
	roleBroken
	rolePlain
)

// Shares of the inventory, in percent; plain VMs take the rest (25%).
var roleShares = []struct {
	role    role
	percent int
}{
	{roleWorker, 40},
	{roleProvisioned, 8},
	{roleTemplate, 4},
	{roleOtherHatchery, 15},
	{roleBroken, 8},
}

// vmSeed is what is written on one VM. A nil annotation is left unset.
type vmSeed struct {
	name       string
	numCPU     int32
	memoryMB   int32
	annotation *string
}

// cdsAnnotation is written in the field order of the CDS hatchery's own struct.
// JobID holds a string (current CDS) or a number (older CDS); a nil Flavor or RegisterOnly
// leaves the field out, as older versions did.
type cdsAnnotation struct {
	HatcheryName            string      `json:"hatchery_name"`
	WorkerName              string      `json:"worker_name"`
	RegisterOnly            *bool       `json:"register_only,omitempty"`
	Provisioning            bool        `json:"provisioning"`
	WorkerModelPath         string      `json:"worker_model_path"`
	WorkerModelLastModified string      `json:"worker_model_last_modified"`
	Model                   bool        `json:"model"`
	Created                 string      `json:"created"`
	JobID                   interface{} `json:"job_id"`
	IPAddress               string      `json:"ip_address"`
	Flavor                  interface{} `json:"flavor,omitempty"`
}

// createInventory creates the vcsim model and seeds every VM. It returns the seeds by
// moref, only to cross-check what the API later returns.
func createInventory(o options) (*simulator.Model, map[types.ManagedObjectReference]vmSeed, error) {
	model := simulator.VPX()
	// One datacenter, no standalone host, one cluster: the VMs are the cluster root
	// pool's, named DC0_C0_RP0_VM<n>, and there are
	// Datacenter x (Host + Cluster x (1 + App)) x Machine = Machine of them.
	model.Host = 0
	model.Cluster = 1
	model.App = 0
	model.Pool = 0
	model.Machine = o.vms

	began := time.Now()
	if err := model.Create(); err != nil {
		return nil, nil, fmt.Errorf("creating the vcsim model: %w", err)
	}
	created := time.Now()

	vms, err := vmsInCreationOrder()
	if err != nil {
		return nil, nil, err
	}
	if len(vms) != o.vms {
		return nil, nil, fmt.Errorf("the model has %d VMs, %d wanted", len(vms), o.vms)
	}

	seeds := seedVMs(vms, o)
	if err := seedPool(); err != nil {
		return nil, nil, err
	}
	log.Printf("model of %d VMs created in %s, seeded in %s", len(vms),
		created.Sub(began).Round(time.Millisecond), time.Since(created).Round(time.Millisecond))
	return model, seeds, nil
}

// vmsInCreationOrder lists the datacenter's VMs in the order of its vm folder, which
// is creation order, so the seeding does not depend on Go's map iteration order.
func vmsInCreationOrder() ([]*simulator.VirtualMachine, error) {
	dc, ok := simulator.Map.Any("Datacenter").(*simulator.Datacenter)
	if !ok {
		return nil, fmt.Errorf("no datacenter in the model")
	}
	folder, ok := simulator.Map.Get(dc.VmFolder).(*simulator.Folder)
	if !ok {
		return nil, fmt.Errorf("no vm folder in %s", dc.Name)
	}

	var vms []*simulator.VirtualMachine
	for _, ref := range folder.ChildEntity {
		if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
			vms = append(vms, vm)
		}
	}
	return vms, nil
}

func seedVMs(vms []*simulator.VirtualMachine, o options) map[types.ManagedObjectReference]vmSeed {
	rng := rand.New(rand.NewSource(o.seed))
	roles := planRoles(len(vms), rng)
	gen := &generator{rng: rng, hatchery: o.hatchery, seed: o.seed}

	seeds := make(map[types.ManagedObjectReference]vmSeed, len(vms))
	for i, vm := range vms {
		s := gen.vm(i, roles[i], vm.Name)
		applySeed(vm, s)
		seeds[vm.Self] = s
	}
	return seeds
}

// planRoles deals the roles by their shares and shuffles them, so every kind of VM is
// spread over the inventory (and over any order a client may read it in).
func planRoles(n int, rng *rand.Rand) []role {
	roles := make([]role, 0, n)
	for _, share := range roleShares {
		count := (n*share.percent + 50) / 100
		for i := 0; i < count && len(roles) < n; i++ {
			roles = append(roles, share.role)
		}
	}
	for len(roles) < n {
		roles = append(roles, rolePlain)
	}
	rng.Shuffle(n, func(i, j int) { roles[i], roles[j] = roles[j], roles[i] })
	return roles
}

// applySeed goes through Map.Update, as vcsim's own methods do, so the property
// collector (and any WaitForUpdates filter) sees the values. Every copy of a value is
// set: the entity name and its config/summary copies, the hardware and summary sizes,
// and both annotations (ReconfigVM_Task would only set config.annotation).
func applySeed(vm *simulator.VirtualMachine, s vmSeed) {
	changes := []types.PropertyChange{
		{Name: "name", Val: s.name},
		{Name: "config.name", Val: s.name},
		{Name: "summary.config.name", Val: s.name},
		{Name: "config.hardware.numCPU", Val: s.numCPU},
		{Name: "summary.config.numCpu", Val: s.numCPU},
		{Name: "config.hardware.memoryMB", Val: s.memoryMB},
		{Name: "summary.config.memorySizeMB", Val: s.memoryMB},
	}
	if s.annotation != nil {
		changes = append(changes,
			types.PropertyChange{Name: "config.annotation", Val: *s.annotation},
			types.PropertyChange{Name: "summary.config.annotation", Val: *s.annotation},
		)
	}
	simulator.Map.Update(vm, changes)
}

// seedPool replaces vcsim's fixed runtime template on the cluster's root pool.
func seedPool() error {
	cluster, ok := simulator.Map.Any("ClusterComputeResource").(*simulator.ClusterComputeResource)
	if !ok || cluster.ResourcePool == nil {
		return fmt.Errorf("no cluster resource pool in the model")
	}
	pool, ok := simulator.Map.Get(*cluster.ResourcePool).(*simulator.ResourcePool)
	if !ok {
		return fmt.Errorf("resource pool %s not found", cluster.ResourcePool)
	}
	simulator.Map.Update(pool, []types.PropertyChange{{Name: "runtime", Val: poolRuntime}})
	return nil
}

// generator draws the VMs. All randomness comes from rng, in VM order.
type generator struct {
	rng      *rand.Rand
	hatchery string
	seed     int64
	broken   int // broken annotations written so far, to cycle through the kinds
	plain    int // plain VMs so far: the first ones get an empty, then blank, annotation
}

func (g *generator) vm(i int, r role, vcsimName string) vmSeed {
	s := vmSeed{
		name:     vcsimName,
		numCPU:   int32(1 + g.rng.Intn(16)),
		memoryMB: memorySizesMB[g.rng.Intn(len(memorySizesMB))],
	}

	switch r {
	case roleWorker:
		s.name, s.annotation = g.worker(i, g.hatchery, false)
	case roleProvisioned:
		s.name, s.annotation = g.worker(i, g.hatchery, true)
	case roleTemplate:
		s.name, s.annotation = g.template(i, g.hatchery)
	case roleOtherHatchery:
		s.name, s.annotation = g.otherHatchery(i)
	case roleBroken:
		s.annotation = g.brokenAnnotation()
	case rolePlain:
		s.annotation = g.plainAnnotation()
	}
	return s
}

// worker returns the name and annotation of a worker VM of hatchery.
func (g *generator) worker(i int, hatchery string, provisioned bool) (string, *string) {
	modelPath := workerModels[g.rng.Intn(len(workerModels))]
	name := fmt.Sprintf("%s-%d-%d", path.Base(modelPath), g.seed, i)
	if provisioned {
		name = "provision-" + name
	}

	a := g.annotation(hatchery, name, modelPath)
	a.Provisioning = provisioned
	text := marshal(a)

	// The exporter trims the annotation before reading it.
	if g.rng.Intn(25) == 0 {
		text = "\n  " + text + " \n"
	}
	return name, &text
}

// template returns the name and annotation of the VM a worker model is cloned from.
func (g *generator) template(i int, hatchery string) (string, *string) {
	modelPath := workerModels[g.rng.Intn(len(workerModels))]
	name := fmt.Sprintf("%s-template-%d-%d", path.Base(modelPath), g.seed, i)

	a := g.annotation(hatchery, "", modelPath)
	a.Model = true
	text := marshal(a)
	return name, &text
}

// otherHatchery returns a VM of another hatchery sharing the pool: mostly workers, some
// provisioned ones and some templates, none of which may count for ours.
func (g *generator) otherHatchery(i int) (string, *string) {
	switch g.rng.Intn(5) {
	case 0:
		return g.template(i, otherHatchery)
	case 1:
		return g.worker(i, otherHatchery, true)
	default:
		return g.worker(i, otherHatchery, false)
	}
}

// annotation draws a CDS annotation in one of the shapes seen in the field: the
// current one (job_id a string, every field), or an older one (job_id a number, no
// register_only and no flavor). An empty flavor is left out, written "" or null.
func (g *generator) annotation(hatchery, workerName, modelPath string) cdsAnnotation {
	created := createdBase.Add(time.Duration(g.rng.Intn(60*24*30)) * time.Minute)
	jobID := 1000 + g.rng.Intn(900000)

	a := cdsAnnotation{
		HatcheryName:            hatchery,
		WorkerName:              workerName,
		WorkerModelPath:         modelPath,
		WorkerModelLastModified: fmt.Sprint(createdBase.Add(-time.Duration(g.rng.Intn(1000)) * time.Hour).Unix()),
		Created:                 created.Format(time.RFC3339),
		IPAddress:               "",
	}

	if g.rng.Intn(4) == 0 {
		a.JobID = jobID
		return a
	}

	registerOnly := false
	a.RegisterOnly = &registerOnly
	a.JobID = fmt.Sprint(jobID)
	if flavor := flavors[g.rng.Intn(len(flavors))]; flavor != "" {
		a.Flavor = flavor
	} else {
		switch g.rng.Intn(3) {
		case 0: // left out
		case 1:
			a.Flavor = ""
		case 2:
			a.Flavor = json.RawMessage("null")
		}
	}
	return a
}

// brokenAnnotation cycles through non-empty annotations that are not CDS ones.
func (g *generator) brokenAnnotation() *string {
	full := marshal(g.annotation(g.hatchery, "truncated", workerModels[0]))
	kinds := []string{
		"created by hand, do not delete",
		full[:len(full)/2],
		fmt.Sprintf(`[%s]`, jsonString(g.hatchery)),
		`{"hatchery_name": 42}`,
		fmt.Sprintf(`{"hatchery_name":%s,"model":"true"}`, jsonString(g.hatchery)),
	}
	text := kinds[g.broken%len(kinds)]
	g.broken++
	return &text
}

// plainAnnotation leaves most plain VMs without annotation. The first one gets an
// empty string (which vcsim does not distinguish from unset: it omits empty strings
// from RetrievePropertiesEx), the next two a blank one, which is not a CDS annotation
// and not a broken one either.
func (g *generator) plainAnnotation() *string {
	defer func() { g.plain++ }()
	var text string
	switch g.plain {
	case 0:
		text = ""
	case 1:
		text = "   "
	case 2:
		text = " \n\t "
	default:
		return nil
	}
	return &text
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

func marshal(a cdsAnnotation) string {
	b, err := json.Marshal(a)
	if err != nil {
		panic(err) // only strings, bools and numbers: cannot fail
	}
	return string(b)
}

// expectedAnnotation is what config.annotation should read back as: vcsim leaves
// empty strings out of RetrievePropertiesEx, as if unset.
func (s vmSeed) expectedAnnotation() (string, bool) {
	if s.annotation == nil || *s.annotation == "" {
		return "", false
	}
	return *s.annotation, true
}
