package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifests is every object of deploy/kubernetes, decoded strictly.
type manifests struct {
	deploy *appsv1.Deployment
	svc    *corev1.Service
	hpa    *autoscalingv2.HorizontalPodAutoscaler
	pvc    *corev1.PersistentVolumeClaim
	cm     *corev1.ConfigMap
	pdb    *policyv1.PodDisruptionBudget
	netpol *networkingv1.NetworkPolicy
}

// facts is what the manifests must agree with, read from the repository
// and from the built server, not from the manifests.
type facts struct {
	entrypoint []string // the Dockerfile's ENTRYPOINT
	expose     []int32  // the Dockerfile's EXPOSE
	uid        int64    // the Dockerfile's USER
	image      string   // the image name scripts/image.sh (make image) builds
	tag        string   // and its tag, the VERSION file
	grpcPort   int32    // cmd/serve's default --port, from --help
	restPort   int32    // cmd/serve's default --rest_api_port, from --help
	reqTimeout string   // cmd/serve's default --request_timeout, from --help
}

// splitDocs splits a YAML stream on its "---" lines.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// loadManifests decodes every YAML document of dir into its typed
// k8s.io/api object; unknown fields, duplicate keys, an unknown kind or a
// second object of one kind are errors.
func loadManifests(dir string) (*manifests, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	m := &manifests{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for i, doc := range splitDocs(b) {
			if err := m.decode(doc); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", filepath.Base(f), i+1, err)
			}
		}
	}
	if m.deploy == nil || m.svc == nil || m.hpa == nil || m.pvc == nil || m.cm == nil || m.pdb == nil || m.netpol == nil {
		return nil, fmt.Errorf("want one Deployment, Service, HorizontalPodAutoscaler, PersistentVolumeClaim, ConfigMap, PodDisruptionBudget and NetworkPolicy in %s", dir)
	}
	return m, nil
}

func (m *manifests) decode(doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	var obj any
	var dup bool
	switch gk := head.APIVersion + " " + head.Kind; gk {
	case "apps/v1 Deployment":
		dup, m.deploy = m.deploy != nil, &appsv1.Deployment{}
		obj = m.deploy
	case "v1 Service":
		dup, m.svc = m.svc != nil, &corev1.Service{}
		obj = m.svc
	case "autoscaling/v2 HorizontalPodAutoscaler":
		dup, m.hpa = m.hpa != nil, &autoscalingv2.HorizontalPodAutoscaler{}
		obj = m.hpa
	case "v1 PersistentVolumeClaim":
		dup, m.pvc = m.pvc != nil, &corev1.PersistentVolumeClaim{}
		obj = m.pvc
	case "v1 ConfigMap":
		dup, m.cm = m.cm != nil, &corev1.ConfigMap{}
		obj = m.cm
	case "policy/v1 PodDisruptionBudget":
		dup, m.pdb = m.pdb != nil, &policyv1.PodDisruptionBudget{}
		obj = m.pdb
	case "networking.k8s.io/v1 NetworkPolicy":
		dup, m.netpol = m.netpol != nil, &networkingv1.NetworkPolicy{}
		obj = m.netpol
	default:
		return fmt.Errorf("unexpected object %q", gk)
	}
	if dup {
		return fmt.Errorf("a second %s %s", head.APIVersion, head.Kind)
	}
	// The API server's own strict decoding: YAML to JSON refusing
	// duplicate keys, then sigs.k8s.io/json, case-sensitive (encoding/json,
	// and so yaml.UnmarshalStrict, would take "Replicas" for "replicas"),
	// refusing unknown and duplicate fields.
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, obj)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// container is the serving container (the Deployment has one).
func (m *manifests) container() (*corev1.Container, error) {
	cs := m.deploy.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		return nil, fmt.Errorf("deployment: want one container, have %d", len(cs))
	}
	return &cs[0], nil
}

// argv is what the container runs: command (else the image's ENTRYPOINT)
// followed by args.
func argv(c *corev1.Container, f *facts) []string {
	cmd := c.Command
	if len(cmd) == 0 {
		cmd = f.entrypoint
	}
	return append(slices.Clone(cmd), c.Args...)
}

// flagValues maps each --name=value of args to its value (the last one
// wins, as in Go's flag package); every arg must have that form, so that
// no value can be mistaken for a positional argument.
func flagValues(args []string) (map[string]string, error) {
	vals := map[string]string{}
	for _, a := range args {
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok || name == "" {
			return nil, fmt.Errorf("args: write %q as --name=value", a)
		}
		vals[name] = val
	}
	return vals, nil
}

// portOf resolves a port by name or number among the container's ports.
func portOf(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// check runs every check that needs no server binary.
func check(m *manifests, f *facts) error {
	c, err := m.container()
	if err != nil {
		return err
	}
	av := argv(c, f)
	vals, err := flagValues(av[1:])
	if err != nil {
		return err
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	pod := m.deploy.Spec.Template

	// Labels: the Deployment and the Service select the pods.
	if sel := m.deploy.Spec.Selector; sel == nil || len(sel.MatchLabels) == 0 || !subset(sel.MatchLabels, pod.Labels) {
		fail("labels: the Deployment's selector does not match its pod labels %v", pod.Labels)
	}
	if len(m.svc.Spec.Selector) == 0 || !subset(m.svc.Spec.Selector, pod.Labels) {
		fail("labels: the Service's selector %v does not match the pod labels %v", m.svc.Spec.Selector, pod.Labels)
	}

	// HPA: it scales this Deployment, on a metric the pods can report.
	ref := m.hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != m.deploy.Name {
		fail("hpa: scaleTargetRef %s %s %q is not the Deployment %q", ref.APIVersion, ref.Kind, ref.Name, m.deploy.Name)
	}
	if m.hpa.Spec.MinReplicas == nil || *m.hpa.Spec.MinReplicas < 1 || *m.hpa.Spec.MinReplicas > m.hpa.Spec.MaxReplicas {
		fail("hpa: want 1 <= minReplicas <= maxReplicas (%d)", m.hpa.Spec.MaxReplicas)
	}
	for _, mt := range m.hpa.Spec.Metrics {
		if mt.Resource != nil && mt.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			if _, ok := c.Resources.Requests[mt.Resource.Name]; !ok {
				fail("hpa: %s utilization is a share of the container's %s request, which is missing", mt.Resource.Name, mt.Resource.Name)
			}
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			fail("resources: no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			fail("resources: no %s limit", r)
		}
	}

	// Memory: the limit covers the front end, what requests may hold in
	// it, and each worker's use (its address-space cap less what TF
	// reserves without using); both flags are set, so that it does not
	// depend on the node's size.
	if err := checkMemory(c, vals, m.cm); err != nil {
		fail("%v", err)
	}

	// Image: the one make image builds, at a pinned tag.
	name, tag, _ := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":")
	if name != f.image || tag != f.tag {
		fail("image: %q is not %s:%s, which make image builds (pin the tag: latest moves)", c.Image, f.image, f.tag)
	}
	if av[0] != f.entrypoint[0] {
		fail("args: the container runs %q, the image's server is %q", av[0], f.entrypoint[0])
	}

	// Ports: the server's, the Dockerfile's and the Service's agree.
	want := map[string]struct {
		flag string
		def  int32
	}{"http": {"rest_api_port", f.restPort}, "grpc": {"port", f.grpcPort}}
	for pname, w := range want {
		port := w.def
		if v, ok := vals[w.flag]; ok {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				fail("ports: --%s=%q", w.flag, v)
				continue
			}
			port = int32(n)
		}
		got, ok := portOf(c, intstr.FromString(pname))
		if !ok || got != port {
			fail("ports: container port %q is %d, the server listens on --%s=%d", pname, got, w.flag, port)
		}
		if !slices.Contains(f.expose, port) {
			fail("ports: %d (--%s) is not in the Dockerfile's EXPOSE %v", port, w.flag, f.expose)
		}
	}
	for _, sp := range m.svc.Spec.Ports {
		if _, ok := portOf(c, sp.TargetPort); !ok {
			fail("service: port %q targets %s, which the container does not have", sp.Name, sp.TargetPort.String())
		}
	}

	// Probes: on the REST port, over HTTP unless the server has TLS.
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			fail("probes: no %s httpGet probe", kind)
			continue
		}
		if got, ok := portOf(c, p.HTTPGet.Port); !ok || got != portNum(c, "http") {
			fail("probes: the %s probe asks port %s, not the REST port", kind, p.HTTPGet.Port.String())
		}
		if tls := vals["ssl_cert_file"] != ""; tls != (p.HTTPGet.Scheme == corev1.URISchemeHTTPS) {
			fail("probes: the %s probe's scheme %q does not match the server's TLS (%v)", kind, p.HTTPGet.Scheme, tls)
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		fail("probes: liveness asks %q; /healthz is the one that does not fail while a model loads", c.LivenessProbe.HTTPGet.Path)
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		fail("probes: readiness asks %q; /readyz is the one that fails while draining", c.ReadinessProbe.HTTPGet.Path)
	}

	// Drain: preStop sleep, then SIGTERM and --shutdown_timeout, all within
	// the grace period.
	var sleep time.Duration
	if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		sleep = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	if sleep <= 0 {
		fail("drain: no preStop sleep: SIGTERM would race the endpoint removal")
	}
	drain, err := time.ParseDuration(vals["shutdown_timeout"])
	if err != nil || drain <= 0 {
		fail("drain: set --shutdown_timeout explicitly (have %q)", vals["shutdown_timeout"])
	}
	rtFlag, ok := vals["request_timeout"]
	if !ok {
		rtFlag = f.reqTimeout
	}
	if rt, err := time.ParseDuration(rtFlag); err != nil {
		fail("drain: --request_timeout=%q: %v", rtFlag, err)
	} else if drain < rt {
		fail("drain: --shutdown_timeout=%s is shorter than --request_timeout=%s: a request in flight could be cut", drain, rt)
	}
	grace := time.Duration(30) * time.Second // Kubernetes' default
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace < sleep+drain {
		fail("drain: terminationGracePeriodSeconds %s < preStop sleep %s + --shutdown_timeout %s", grace, sleep, drain)
	}

	// Security: the image's unprivileged user, a read-only root.
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != f.uid {
		fail("security: want runAsNonRoot and runAsUser %d (the Dockerfile's USER)", f.uid)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		fail("security: want readOnlyRootFilesystem and no privilege escalation")
	}

	// The pod gets no service-account token: the server calls no API.
	if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
		fail("security: want automountServiceAccountToken: false (the server never calls the Kubernetes API)")
	}
	errs = append(errs, checkPolicies(m, c)...)

	// Models: a read-only shared claim and the config every replica polls.
	errs = append(errs, checkModels(m, c, vals)...)
	return errors.Join(errs...)
}

// checkPolicies checks the disruption budget and the network policy.
func checkPolicies(m *manifests, c *corev1.Container) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	pod := m.deploy.Spec.Template
	pdb := m.pdb.Spec
	if pdb.Selector == nil || len(pdb.Selector.MatchLabels) == 0 || !subset(pdb.Selector.MatchLabels, pod.Labels) {
		fail("pdb: its selector does not match the pod labels %v", pod.Labels)
	}
	min := m.hpa.Spec.MinReplicas
	switch {
	case pdb.MinAvailable == nil || pdb.MinAvailable.Type != intstr.Int || pdb.MinAvailable.IntVal < 1:
		fail("pdb: want minAvailable of at least 1 replica")
	case min != nil && pdb.MinAvailable.IntVal >= *min:
		fail("pdb: minAvailable %d leaves no replica of the HPA's minimum %d to drain", pdb.MinAvailable.IntVal, *min)
	}
	np := m.netpol.Spec
	if len(np.PodSelector.MatchLabels) == 0 || !subset(np.PodSelector.MatchLabels, pod.Labels) {
		fail("networkpolicy: its podSelector does not match the pod labels %v", pod.Labels)
	}
	if !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeEgress) || len(np.Egress) != 0 {
		fail("networkpolicy: want Ingress and Egress policies and no egress rule (the server needs no outgoing connection)")
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	open := map[string]bool{}
	for _, r := range np.Ingress {
		if len(r.Ports) == 0 {
			fail("networkpolicy: an ingress rule opens every port")
		}
		for _, p := range r.Ports {
			if p.Port == nil || p.Port.Type != intstr.String || !ports[p.Port.StrVal] {
				fail("networkpolicy: ingress port %v is not one of the container's named ports", p.Port)
				continue
			}
			open[p.Port.StrVal] = true
		}
	}
	for name := range ports {
		if !open[name] {
			fail("networkpolicy: the container's port %q takes no traffic", name)
		}
	}
	return errs
}

// checkModels checks the models' volume, the config file and the polling.
func checkModels(m *manifests, c *corev1.Container, vals map[string]string) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	vols := map[string]corev1.Volume{}
	for _, v := range m.deploy.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	var modelsDir, configPath string
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		switch {
		case !ok:
			fail("volumes: mount %q has no volume", vm.Name)
		case v.PersistentVolumeClaim != nil:
			if v.PersistentVolumeClaim.ClaimName != m.pvc.Name || !v.PersistentVolumeClaim.ReadOnly || !vm.ReadOnly {
				fail("volumes: the models' claim %q must be %q, mounted read-only", v.PersistentVolumeClaim.ClaimName, m.pvc.Name)
			}
			modelsDir = vm.MountPath
		case v.ConfigMap != nil:
			if v.ConfigMap.Name != m.cm.Name {
				fail("volumes: configMap %q is not %q", v.ConfigMap.Name, m.cm.Name)
			}
			for key := range m.cm.Data {
				if filepath.Join(vm.MountPath, key) == vals["model_config_file"] {
					configPath = vals["model_config_file"]
				}
			}
		}
	}
	if !slices.Equal(m.pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}) {
		fail("volumes: the claim's accessModes %v are not [ReadOnlyMany]: replicas on many nodes share it", m.pvc.Spec.AccessModes)
	}
	if configPath == "" {
		fail("models: --model_config_file=%q is no key of the ConfigMap %q as mounted", vals["model_config_file"], m.cm.Name)
	} else {
		text := m.cm.Data[filepath.Base(configPath)]
		bases := regexp.MustCompile(`base_path:\s*"([^"]*)"`).FindAllStringSubmatch(text, -1)
		if len(bases) == 0 {
			fail("models: the model config names no base_path")
		}
		for _, b := range bases {
			if modelsDir == "" || !strings.HasPrefix(b[1], modelsDir+"/") {
				fail("models: base_path %q is not on the models' volume (%q)", b[1], modelsDir)
			}
		}
	}
	if n, err := strconv.Atoi(vals["model_config_file_poll_wait_seconds"]); err != nil || n <= 0 {
		fail("models: --model_config_file_poll_wait_seconds=%q: replicas would not see a changed config", vals["model_config_file_poll_wait_seconds"])
	}
	if d, ok := vals["poll"]; ok && strings.HasPrefix(d, "-") {
		fail("models: --poll=%s: replicas would not see new versions", d)
	}
	return errs
}

func portNum(c *corev1.Container, name string) int32 {
	p, _ := portOf(c, intstr.FromString(name))
	return p
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// readFacts reads the Dockerfile and scripts/image.sh, and the port
// defaults from the server's --help.
func readFacts(t *testing.T, help string) *facts {
	t.Helper()
	f := &facts{}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(df), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "ENTRYPOINT":
			if err := yaml.Unmarshal([]byte(strings.TrimPrefix(line, "ENTRYPOINT")), &f.entrypoint); err != nil {
				t.Fatalf("Dockerfile ENTRYPOINT: %v", err)
			}
		case "EXPOSE":
			for _, p := range fields[1:] {
				n, err := strconv.ParseInt(strings.TrimSuffix(p, "/tcp"), 10, 32)
				if err != nil {
					t.Fatalf("Dockerfile EXPOSE %q: %v", p, err)
				}
				f.expose = append(f.expose, int32(n))
			}
		case "USER":
			if f.uid, err = strconv.ParseInt(strings.Split(fields[1], ":")[0], 10, 64); err != nil {
				t.Fatalf("Dockerfile USER %q: want a numeric uid (Kubernetes' runAsNonRoot checks it)", fields[1])
			}
		}
	}
	sh, err := os.ReadFile("../../scripts/image.sh")
	if err != nil {
		t.Fatal(err)
	}
	if mm := regexp.MustCompile(`IMAGE="\$\{IMAGE:-([^}]+)\}"`).FindSubmatch(sh); mm != nil {
		f.image = string(mm[1])
	}
	v, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	f.tag = strings.TrimSpace(string(v))
	f.grpcPort, f.restPort = int32(helpInt(t, help, "port")), int32(helpInt(t, help, "rest_api_port"))
	f.reqTimeout = helpDefault(t, help, "request_timeout", "duration")
	if len(f.entrypoint) == 0 || len(f.expose) == 0 || f.uid == 0 || f.image == "" {
		t.Fatalf("incomplete facts from Dockerfile and scripts/image.sh: %+v", f)
	}
	return f
}

// Front-end memory besides requests (Go heap, libtensorflow loaded, gRPC
// and HTTP buffers): about 300 MB resident measured idle; a worker's
// address space it reserves but does not use: 2.6 GB measured idle
// (Intel Xeon, 2 vCPU).
const (
	frontEndBase  = 512 << 20
	workerUnused  = 5 << 29 // 2.5 GiB
	minWorkerSize = workerUnused + 512<<20
)

var modelEntry = regexp.MustCompile(`(?m)^\s*config\s*\{`)

// checkMemory checks that the container's memory limit covers the front
// end, --max_in_flight_bytes and every worker (one per model in the
// ConfigMap's model config) at --worker_memory_bytes.
func checkMemory(c *corev1.Container, vals map[string]string, cm *corev1.ConfigMap) error {
	flagBytes := func(name string) (int64, error) {
		v, ok := vals[name]
		if !ok {
			return 0, fmt.Errorf("resources: set --%s: its default follows the node, not the pod's limit", name)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("resources: --%s=%q is not a number of bytes", name, v)
		}
		return n, nil
	}
	inflight, err := flagBytes("max_in_flight_bytes")
	if err != nil {
		return err
	}
	worker, err := flagBytes("worker_memory_bytes")
	if err != nil {
		return err
	}
	if worker < minWorkerSize {
		return fmt.Errorf("resources: --worker_memory_bytes=%d leaves a worker less than 512 MiB past the %d bytes of address space it reserves unused", worker, workerUnused)
	}
	workers := int64(len(modelEntry.FindAllString(cm.Data["models.config"], -1)))
	if workers == 0 {
		return errors.New("resources: the ConfigMap's models.config lists no model")
	}
	limit, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		return nil // reported with the other resources
	}
	need := frontEndBase + inflight + workers*(worker-workerUnused)
	if limit.Value() < need {
		return fmt.Errorf("resources: the memory limit %s is below the front end (%d MiB), --max_in_flight_bytes (%d MiB) and %d worker(s) using up to %d MiB each: %d MiB",
			limit.String(), frontEndBase>>20, inflight>>20, workers, (worker-workerUnused)>>20, need>>20)
	}
	return nil
}

// helpDefault reads the "(default V)" of a flag of this type from the
// server's --help (Go's flag.PrintDefaults).
func helpDefault(t *testing.T, help, name, typ string) string {
	t.Helper()
	mm := regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(name) + ` ` + typ + `\n[^\n]*\(default ([^)]+)\)`).FindStringSubmatch(help)
	if mm == nil {
		t.Fatalf("no default of --%s in serve --help", name)
	}
	return mm[1]
}

func helpInt(t *testing.T, help, name string) int {
	t.Helper()
	n, err := strconv.Atoi(helpDefault(t, help, name, "int"))
	if err != nil {
		t.Fatalf("--%s: %v", name, err)
	}
	return n
}

func TestManifests(t *testing.T) {
	bin := buildServe(t)
	f := readFacts(t, serveHelp(t, bin))
	m, err := loadManifests(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := check(m, f); err != nil {
		t.Fatal(err)
	}
	c, _ := m.container()
	av := argv(c, f)
	if err := checkFlags(bin, av[1:]); err != nil {
		t.Fatal(err)
	}
	if err := checkLive(t, bin, m, av[1:]); err != nil {
		t.Fatal(err)
	}
}

// TestStrictDecode: a misspelt or misplaced field is an error, not silently
// dropped (kubectl apply would drop or reject it).
func TestStrictDecode(t *testing.T) {
	good, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"unknown field", "terminationGracePeriodSeconds:", "terminationGracePeriodSecond:"},
		{"field in the wrong case", "terminationGracePeriodSeconds:", "TerminationGracePeriodSeconds:"},
		{"field at the wrong level", "            readOnlyRootFilesystem: true", "            readOnlyRootFilesystem: true\n            readOnly: true"},
		{"wrong type", "replicas: 2", "replicas: two"},
		{"duplicate key", "  replicas: 2", "  replicas: 2\n  replicas: 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Replace(good, []byte(tc.old), []byte(tc.new), 1)
			if bytes.Equal(bad, good) {
				t.Fatalf("%q not in deployment.yaml", tc.old)
			}
			err := (&manifests{}).decode(bad)
			if err == nil {
				t.Fatal("decoded without an error")
			}
			t.Log(err)
		})
	}
	if err := (&manifests{}).decode(good); err != nil {
		t.Fatalf("deployment.yaml: %v", err)
	}
	if err := (&manifests{}).decode([]byte("apiVersion: v1\nkind: Secret\n")); err == nil {
		t.Fatal("an unexpected kind decoded")
	}
}
