package kubernetes

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// setArg sets --name=value in the container's args (appends it if absent);
// an empty value removes it.
func setArg(c *corev1.Container, name, value string) {
	c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--"+name+"=") })
	if value != "" {
		c.Args = append(c.Args, "--"+name+"="+value)
	}
}

// byName finds the element of xs called name; if none is, it returns a
// scratch element, so that the mutation changes nothing and its case fails.
func byName[T any](xs []T, name string, nameOf func(*T) string) *T {
	for i := range xs {
		if nameOf(&xs[i]) == name {
			return &xs[i]
		}
	}
	return new(T)
}

// TestBrokenManifests breaks the manifests one way at a time and wants the
// check meant for that way to report it: each check can fail.
func TestBrokenManifests(t *testing.T) {
	bin := buildServe(t)
	f := readFacts(t, serveHelp(t, bin))
	type ms = manifests
	ctr := func(m *ms) *corev1.Container { return &m.deploy.Spec.Template.Spec.Containers[0] }
	port := func(m *ms, name string) *corev1.ContainerPort {
		return byName(ctr(m).Ports, name, func(p *corev1.ContainerPort) string { return p.Name })
	}
	mount := func(m *ms, name string) *corev1.VolumeMount {
		return byName(ctr(m).VolumeMounts, name, func(v *corev1.VolumeMount) string { return v.Name })
	}
	svcPort := func(m *ms, name string) *corev1.ServicePort {
		return byName(m.svc.Spec.Ports, name, func(p *corev1.ServicePort) string { return p.Name })
	}
	for _, tc := range []struct {
		name   string
		mutate func(m *ms)
		want   string
	}{
		{"deployment selector", func(m *ms) { m.deploy.Spec.Selector.MatchLabels["app.kubernetes.io/component"] = "batch" }, "labels: the Deployment's selector"},
		{"service selector", func(m *ms) { m.svc.Spec.Selector["app.kubernetes.io/name"] = "other" }, "labels: the Service's selector"},
		{"hpa target", func(m *ms) { m.hpa.Spec.ScaleTargetRef.Name = "gotf-serv" }, "hpa: scaleTargetRef"},
		{"hpa min above max", func(m *ms) { n := m.hpa.Spec.MaxReplicas + 1; m.hpa.Spec.MinReplicas = &n }, "hpa: want 1 <= minReplicas"},
		{"hpa on cpu without a cpu request", func(m *ms) { delete(ctr(m).Resources.Requests, corev1.ResourceCPU) }, "hpa: cpu utilization"},
		{"no memory limit", func(m *ms) { delete(ctr(m).Resources.Limits, corev1.ResourceMemory) }, "resources: no memory limit"},
		{"image name", func(m *ms) { ctr(m).Image = "gotf-server:latest" }, "image:"},
		{"service-account token", func(m *ms) { m.deploy.Spec.Template.Spec.AutomountServiceAccountToken = nil }, "security: want automountServiceAccountToken"},
		{"pdb selector", func(m *ms) { m.pdb.Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "other" }, "pdb: its selector"},
		{"pdb blocks every drain", func(m *ms) { m.pdb.Spec.MinAvailable = ptrIntstr(intstr.FromInt32(*m.hpa.Spec.MinReplicas)) }, "pdb: minAvailable"},
		{"networkpolicy selector", func(m *ms) { m.netpol.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] = "batch" }, "networkpolicy: its podSelector"},
		{"networkpolicy egress open", func(m *ms) {
			m.netpol.Spec.Egress = append(m.netpol.Spec.Egress, networkingv1.NetworkPolicyEgressRule{})
		}, "networkpolicy: want Ingress and Egress"},
		{"networkpolicy grpc closed", func(m *ms) { m.netpol.Spec.Ingress[0].Ports = m.netpol.Spec.Ingress[0].Ports[:1] }, "networkpolicy: the container's port \"grpc\""},
		{"image tag", func(m *ms) { ctr(m).Image = "registry.example/gotf-serve:v0" }, "image:"},
		{"image tag latest", func(m *ms) { ctr(m).Image = "gotf-serve:latest" }, "pin the tag"},
		{"image untagged", func(m *ms) { ctr(m).Image = "gotf-serve" }, "pin the tag"},
		{"limit below the workers", func(m *ms) { ctr(m).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("2Gi") }, "resources: the memory limit"},
		{"worker cap from the node", func(m *ms) { setArg(ctr(m), "worker_memory_bytes", "") }, "resources: set --worker_memory_bytes"},
		{"in-flight memory from the default", func(m *ms) { setArg(ctr(m), "max_in_flight_bytes", "") }, "resources: set --max_in_flight_bytes"},
		{"worker cap below its reserve", func(m *ms) { setArg(ctr(m), "worker_memory_bytes", "2147483648") }, "less than 512 MiB"},
		{"command", func(m *ms) { ctr(m).Command = []string{"/usr/bin/serve"} }, "args: the container runs"},
		{"positional arg", func(m *ms) { ctr(m).Args = append(ctr(m).Args, "/models") }, "as --name=value"},
		{"container port vs flag", func(m *ms) { port(m, "http").ContainerPort = 8502 }, `ports: container port "http"`},
		{"port not exposed", func(m *ms) { setArg(ctr(m), "rest_api_port", "9000"); port(m, "http").ContainerPort = 9000 }, "EXPOSE"},
		{"service target port", func(m *ms) { svcPort(m, "grpc").TargetPort = intstr.FromString("metrics") }, "service: port"},
		{"probe on the gRPC port", func(m *ms) { ctr(m).LivenessProbe.HTTPGet.Port = intstr.FromString("grpc") }, "probes: the liveness probe asks port"},
		{"probe over https", func(m *ms) { ctr(m).ReadinessProbe.HTTPGet.Scheme = corev1.URISchemeHTTPS }, "probes: the readiness probe's scheme"},
		{"liveness on readyz", func(m *ms) { ctr(m).LivenessProbe.HTTPGet.Path = "/readyz" }, "probes: liveness asks"},
		{"grace too short", func(m *ms) { g := int64(40); m.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds = &g }, "drain: terminationGracePeriodSeconds"},
		{"grace unset", func(m *ms) { m.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds = nil }, "drain: terminationGracePeriodSeconds"},
		{"no preStop", func(m *ms) { ctr(m).Lifecycle = nil }, "drain: no preStop sleep"},
		{"drain deadline implicit", func(m *ms) { setArg(ctr(m), "shutdown_timeout", "") }, "drain: set --shutdown_timeout"},
		{"drain shorter than a request", func(m *ms) { setArg(ctr(m), "shutdown_timeout", "10s") }, "is shorter than --request_timeout"},
		{"drain shorter than the default request timeout", func(m *ms) {
			setArg(ctr(m), "request_timeout", "")
			setArg(ctr(m), "shutdown_timeout", "20s")
		}, "is shorter than --request_timeout=30s"},
		{"root", func(m *ms) { u := int64(0); m.deploy.Spec.Template.Spec.SecurityContext.RunAsUser = &u }, "security: want runAsNonRoot"},
		{"writable root", func(m *ms) { no := false; ctr(m).SecurityContext.ReadOnlyRootFilesystem = &no }, "security: want readOnlyRootFilesystem"},
		{"claim read-write once", func(m *ms) {
			m.pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
		}, "volumes: the claim's accessModes"},
		{"models mounted writable", func(m *ms) { mount(m, "models").ReadOnly = false }, "volumes: the models' claim"},
		{"mount without volume", func(m *ms) { mount(m, "tmp").Name = "scratch" }, `volumes: mount "scratch"`},
		{"config file not mounted", func(m *ms) { setArg(ctr(m), "model_config_file", "/etc/gotf/model.config") }, "models: --model_config_file="},
		{"base path off the volume", func(m *ms) {
			m.cm.Data["models.config"] = strings.ReplaceAll(m.cm.Data["models.config"], "/models/mnist", "/data/mnist")
		}, "models: base_path"},
		{"config read once", func(m *ms) { setArg(ctr(m), "model_config_file_poll_wait_seconds", "0") }, "models: --model_config_file_poll_wait_seconds"},
		{"versions never polled", func(m *ms) { setArg(ctr(m), "poll", "-1s") }, "models: --poll"},
		// Caught by the real server's flag parsing.
		{"unknown flag", func(m *ms) { setArg(ctr(m), "model_config_poll_seconds", "30") }, "args: serve rejects"},
		{"bad flag value", func(m *ms) { setArg(ctr(m), "poll", "10") }, "args: serve rejects"},
		// Caught only by starting the real server.
		{"entrypoint's --models_dir kept", func(m *ms) { ctr(m).Command = nil }, "live: the server exited"},
		{"config the server cannot parse", func(m *ms) {
			m.cm.Data["models.config"] = strings.Replace(m.cm.Data["models.config"], "name:", "nmae:", 1)
		}, "live: the server exited"},
		{"startup probe on no route", func(m *ms) { ctr(m).StartupProbe.HTTPGet.Path = "/health" }, "live: the startup probe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := loadManifests(".")
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(m)
			err = check(m, f)
			if err == nil {
				c, _ := m.container()
				av := argv(c, f)
				if err = checkFlags(bin, av[1:]); err == nil {
					err = checkLive(t, bin, m, av[1:])
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error with %q, have %v", tc.want, err)
			}
		})
	}
}

func ptrIntstr(v intstr.IntOrString) *intstr.IntOrString { return &v }
