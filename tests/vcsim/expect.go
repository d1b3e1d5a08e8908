package main

// The expectations: the inventory is read back through the vSphere API, as the exporter
// reads it (a container view of VirtualMachine from the root folder, one property
// collector retrieval, the pool found by inventory path), and every gauge is computed from
// what came back by the exporter's rules. The seeds are only used to check that the
// simulator really holds them.

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const metricPrefix = "cds_hatchery_vsphere_"

// vmProperties are the paths the exporter retrieves.
var vmProperties = []string{"name", "summary.config.numCpu", "summary.config.memorySizeMB", "config.annotation"}

// series is one expected Prometheus sample.
type series struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Value  int64             `json:"value"`
}

// vmInfo is one VM as the API returned it.
type vmInfo struct {
	ref        types.ManagedObjectReference
	name       string
	vcpus      int64
	memoryMB   int64
	annotation string
	hasNote    bool // config.annotation was in the propSet
}

// expectations logs in to the running simulator, reads the inventory, checks that it
// holds what was seeded and computes every expected series.
func expectations(endpoint *url.URL, caFile string, o options, seeds map[types.ManagedObjectReference]vmSeed) ([]series, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	client, err := connect(ctx, endpoint, caFile)
	if err != nil {
		return nil, err
	}
	if err := refuseWrongPassword(ctx, client, o); err != nil {
		return nil, err
	}

	vms, runtime, err := readBack(ctx, client, o)
	if err != nil {
		return nil, err
	}
	if err := checkSeeds(vms, seeds); err != nil {
		return nil, err
	}
	if runtime.Cpu != poolRuntime.Cpu || runtime.Memory != poolRuntime.Memory {
		return nil, fmt.Errorf("pool runtime reads back as %+v, seeded %+v", runtime, poolRuntime)
	}
	return tallySeries(o, vms, runtime), nil
}

// currentExpectations computes every expected series of the inventory as it is now,
// after any change made by the control commands: the same reading as at start, without
// the checks against the seeds.
func currentExpectations(ctx context.Context, endpoint *url.URL, caFile string, o options) ([]series, error) {
	client, err := connect(ctx, endpoint, caFile)
	if err != nil {
		return nil, err
	}
	vms, runtime, err := readBack(ctx, client, o)
	if err != nil {
		return nil, err
	}
	return tallySeries(o, vms, runtime), nil
}

func tallySeries(o options, vms []vmInfo, runtime types.ResourcePoolRuntimeInfo) []series {
	t := newTally(o.hatchery)
	for _, vm := range vms {
		t.count(vm)
	}
	return t.series(o.hatchery, o.serviceType, runtime)
}

// readBack logs in, reads the VMs and the pool's runtime, and logs out, so that no
// session is left behind.
func readBack(ctx context.Context, client *govmomi.Client, o options) ([]vmInfo, types.ResourcePoolRuntimeInfo, error) {
	if err := client.Login(ctx, url.UserPassword(o.username, o.password)); err != nil {
		return nil, types.ResourcePoolRuntimeInfo{}, fmt.Errorf("login as %s: %w", o.username, err)
	}
	defer func() { _ = client.Logout(ctx) }()

	vms, err := retrieveVMs(ctx, client.Client)
	if err != nil {
		return nil, types.ResourcePoolRuntimeInfo{}, err
	}
	runtime, err := retrievePoolRuntime(ctx, client.Client)
	return vms, runtime, err
}

// connect reaches the simulator like the exporter will: with TLS, the CA file is the
// only trust root (no insecure mode), which also proves the certificate is usable.
func connect(ctx context.Context, endpoint *url.URL, caFile string) (*govmomi.Client, error) {
	soapClient := soap.NewClient(endpoint, false)
	if caFile != "" {
		if err := soapClient.SetRootCAs(caFile); err != nil {
			return nil, err
		}
	}
	vc, err := vim25.NewClient(ctx, soapClient)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", endpoint, err)
	}
	return &govmomi.Client{Client: vc, SessionManager: session.NewManager(vc)}, nil
}

// refuseWrongPassword fails unless a wrong password is refused with InvalidLogin, or
// the tests of bad credentials would prove nothing.
func refuseWrongPassword(ctx context.Context, client *govmomi.Client, o options) error {
	err := client.Login(ctx, url.UserPassword(o.username, o.password+"-wrong"))
	if !isInvalidLogin(err) {
		return fmt.Errorf("a wrong password was not refused with InvalidLogin: %v", err)
	}
	return nil
}

func isInvalidLogin(err error) bool {
	if err == nil || !soap.IsSoapFault(err) {
		return false
	}
	_, ok := soap.ToSoapFault(err).VimFault().(types.InvalidLogin)
	return ok
}

func retrieveVMs(ctx context.Context, c *vim25.Client) ([]vmInfo, error) {
	v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = v.Destroy(ctx) }()

	var content []types.ObjectContent
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, vmProperties, &content); err != nil {
		return nil, err
	}

	vms := make([]vmInfo, 0, len(content))
	for _, oc := range content {
		vm, err := readVM(oc)
		if err != nil {
			return nil, err
		}
		vms = append(vms, vm)
	}
	return vms, nil
}

func readVM(oc types.ObjectContent) (vmInfo, error) {
	if len(oc.MissingSet) > 0 {
		return vmInfo{}, fmt.Errorf("%s: properties missing: %+v", oc.Obj, oc.MissingSet)
	}
	vm := vmInfo{ref: oc.Obj}
	for _, p := range oc.PropSet {
		var ok bool
		switch p.Name {
		case "name":
			vm.name, ok = p.Val.(string)
		case "summary.config.numCpu":
			vm.vcpus, ok = integer(p.Val)
		case "summary.config.memorySizeMB":
			vm.memoryMB, ok = integer(p.Val)
		case "config.annotation":
			vm.annotation, ok = p.Val.(string)
			vm.hasNote = true
		default:
			ok = true
		}
		if !ok {
			return vmInfo{}, fmt.Errorf("%s: %s has unexpected type %T", oc.Obj, p.Name, p.Val)
		}
	}
	return vm, nil
}

func integer(v interface{}) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}

// checkSeeds fails when a VM does not read back as seeded: a change vcsim kept in a
// field the property collector does not serve would otherwise only show up as a
// puzzling mismatch in the Rust tests.
func checkSeeds(vms []vmInfo, seeds map[types.ManagedObjectReference]vmSeed) error {
	if len(vms) != len(seeds) {
		return fmt.Errorf("the API lists %d VMs, %d were seeded", len(vms), len(seeds))
	}
	for _, vm := range vms {
		s, ok := seeds[vm.ref]
		if !ok {
			return fmt.Errorf("%s was not seeded", vm.ref)
		}
		note, hasNote := s.expectedAnnotation()
		if vm.name != s.name || vm.vcpus != int64(s.numCPU) || vm.memoryMB != int64(s.memoryMB) ||
			vm.hasNote != hasNote || vm.annotation != note {
			return fmt.Errorf("%s reads back as %+v, seeded %+v", vm.ref, vm, s)
		}
	}
	return nil
}

func retrievePoolRuntime(ctx context.Context, c *vim25.Client) (types.ResourcePoolRuntimeInfo, error) {
	ref, err := object.NewSearchIndex(c).FindByInventoryPath(ctx, resourcePoolPath)
	if err != nil {
		return types.ResourcePoolRuntimeInfo{}, err
	}
	if ref == nil {
		return types.ResourcePoolRuntimeInfo{}, fmt.Errorf("%s not found", resourcePoolPath)
	}

	var pool mo.ResourcePool
	err = property.DefaultCollector(c).RetrieveOne(ctx, ref.Reference(), []string{"runtime"}, &pool)
	return pool.Runtime, err
}

// workerLabels tell one per-worker series from another.
type workerLabels struct {
	workerName, workerModel, flavor string
}

type usage struct {
	vcpus, memoryMB int64
}

func (u *usage) add(vm vmInfo) {
	u.vcpus += vm.vcpus
	u.memoryMB += vm.memoryMB
}

// tally applies the exporter's rules, one VM at a time.
type tally struct {
	hatchery                             string
	pool, allocated, templates           usage
	poolCount, vmCount, provisionedCount int64
	templateCount, unparsable            int64
	workers                              map[workerLabels]*usage
}

func newTally(hatchery string) *tally {
	return &tally{hatchery: hatchery, workers: make(map[workerLabels]*usage)}
}

func (t *tally) count(vm vmInfo) {
	t.pool.add(vm)
	t.poolCount++

	a, err := parseAnnotation(vm.annotation)
	if err != nil {
		t.unparsable++
		return
	}
	if a == nil || a.hatcheryName != t.hatchery {
		return
	}

	if a.model {
		t.templates.add(vm)
		t.templateCount++
		return
	}

	t.allocated.add(vm)
	t.vmCount++
	if strings.HasPrefix(vm.name, "provision-") {
		t.provisionedCount++
	}
	// Identical label sets (same VM name in two folders) make one series.
	key := workerLabels{vm.name, a.workerModelPath, a.flavor}
	if t.workers[key] == nil {
		t.workers[key] = &usage{}
	}
	t.workers[key].add(vm)
}

// series lists the pool level, the hatchery level (zeros included), the unparsable
// count, the resource pool and then the workers sorted by labels.
func (t *tally) series(hatchery, serviceType string, rt types.ResourcePoolRuntimeInfo) []series {
	gauge := func(name string, value int64) series {
		return series{
			Name:   metricPrefix + name,
			Labels: map[string]string{"service_name": hatchery, "service_type": serviceType},
			Value:  value,
		}
	}

	out := []series{
		gauge("pool_total_vcpus", t.pool.vcpus),
		gauge("pool_total_memory_mb", t.pool.memoryMB),
		gauge("pool_total_vm_count", t.poolCount),
		gauge("allocated_vcpus", t.allocated.vcpus),
		gauge("allocated_memory_mb", t.allocated.memoryMB),
		gauge("vm_count", t.vmCount),
		gauge("provisioned_vm_count", t.provisionedCount),
		gauge("template_vcpus", t.templates.vcpus),
		gauge("template_memory_mb", t.templates.memoryMB),
		gauge("template_count", t.templateCount),
		gauge("unparsable_annotations", t.unparsable),
		gauge("resource_pool_cpu_max_mhz", rt.Cpu.MaxUsage),
		gauge("resource_pool_cpu_usage_mhz", rt.Cpu.OverallUsage),
		gauge("resource_pool_cpu_unreserved_mhz", rt.Cpu.UnreservedForVm),
		gauge("resource_pool_memory_max_bytes", rt.Memory.MaxUsage),
		gauge("resource_pool_memory_usage_bytes", rt.Memory.OverallUsage),
		gauge("resource_pool_memory_unreserved_bytes", rt.Memory.UnreservedForVm),
	}

	for _, key := range t.sortedWorkers() {
		u := t.workers[key]
		for _, s := range []series{gauge("worker_vcpus", u.vcpus), gauge("worker_memory_mb", u.memoryMB)} {
			s.Labels["worker_name"] = key.workerName
			s.Labels["worker_model"] = key.workerModel
			s.Labels["flavor"] = key.flavor
			out = append(out, s)
		}
	}
	return out
}

func (t *tally) sortedWorkers() []workerLabels {
	keys := make([]workerLabels, 0, len(t.workers))
	for key := range t.workers {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.workerName != b.workerName {
			return a.workerName < b.workerName
		}
		if a.workerModel != b.workerModel {
			return a.workerModel < b.workerModel
		}
		return a.flavor < b.flavor
	})
	return keys
}
