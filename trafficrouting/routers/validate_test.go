package routers

import (
	"testing"

	"github.com/sluice-dev/sluice/trafficrouting"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		canary string
		want   string // "" = valid
	}{
		{"gateway API", gatewayCanary, ""},
		{"istio", istioCanary, ""},
		{"no trafficRouting", `{canaryService: a, stableService: b, steps: [{setWeight: 20}]}`, ""},
		{"nginx", `{canaryService: a, stableService: b, trafficRouting: {nginx: {stableIngress: web}}}`,
			"trafficRouting.nginx is not supported"},
		{"every unsupported router and plugin", `
canaryService: a
stableService: b
trafficRouting:
  alb: {}
  smi: {}
  ambassador: {}
  traefik: {}
  apisix: {}
  appMesh: {}
  plugins: {argoproj-labs/contour: {}, acme/mesh: {}}`,
			`trafficRouting.alb is not supported; trafficRouting.smi is not supported; trafficRouting.ambassador is not supported; ` +
				`trafficRouting.traefik is not supported; trafficRouting.apisix is not supported; trafficRouting.appMesh is not supported; ` +
				`trafficRouting.plugins."acme/mesh" is not supported; trafficRouting.plugins."argoproj-labs/contour" is not supported`},
		{"istio and gateway API on the same Services", `
canaryService: web-canary
stableService: web-stable
trafficRouting:
  istio: {virtualService: {name: web}}
  plugins: {argoproj-labs/gatewayAPI: {httpRoute: web}}`,
			`both an Istio and a Gateway API block point at the canary Service "web-canary" and the stable Service "web-stable": use one of trafficRouting.istio and trafficRouting.plugins."argoproj-labs/gatewayAPI"`},
		{"empty block", `{canaryService: a, stableService: b, trafficRouting: {}}`,
			`trafficRouting names no router: use istio or plugins."argoproj-labs/gatewayAPI"`},
		{"no Services", `{trafficRouting: {istio: {virtualService: {name: web}}}}`,
			"trafficRouting needs both canaryService and stableService"},
		{"same Service twice", `{canaryService: a, stableService: a, trafficRouting: {istio: {virtualService: {name: web}}}}`,
			"canaryService and stableService must be different Services"},
		{"gateway API without routes", `{canaryService: a, stableService: b, trafficRouting: {plugins: {argoproj-labs/gatewayAPI: {namespace: x}}}}`,
			`trafficRouting.plugins."argoproj-labs/gatewayAPI" names no httpRoute, httpRoutes, grpcRoute or grpcRoutes`},
		{"gateway API with an unsupported key", `{canaryService: a, stableService: b, trafficRouting: {plugins: {argoproj-labs/gatewayAPI: {httpRoute: web, tcpRoute: x, httpRouteSelector: {matchLabels: {app: web}}}}}}`,
			`trafficRouting.plugins."argoproj-labs/gatewayAPI".httpRouteSelector is not supported: name the routes in httpRoutes; ` +
				`trafficRouting.plugins."argoproj-labs/gatewayAPI".tcpRoute is not supported: sluice shifts HTTPRoute and GRPCRoute weights only`},
		{"gateway API with an unknown key", `{canaryService: a, stableService: b, trafficRouting: {plugins: {argoproj-labs/gatewayAPI: {httpRoute: web, httpRouts: [{name: x}]}}}}`,
			`decode trafficRouting.plugins."argoproj-labs/gatewayAPI": json: unknown field "httpRouts"`},
		{"istio without a VirtualService", `{canaryService: a, stableService: b, trafficRouting: {istio: {}}}`,
			"trafficRouting.istio names no virtualService or virtualServices"},
		{"istio with both forms", `{canaryService: a, stableService: b, trafficRouting: {istio: {virtualService: {name: x}, virtualServices: [{name: y}]}}}`,
			"trafficRouting.istio sets both virtualService and virtualServices: use one"},
		{"destination rule with one subset name", `{canaryService: a, stableService: b, trafficRouting: {istio: {virtualService: {name: x}, destinationRule: {name: d, canarySubsetName: c, stableSubsetName: c}}}}`,
			"trafficRouting.istio.destinationRule canarySubsetName and stableSubsetName must differ"},
		{"bad maxTrafficWeight", `{canaryService: a, stableService: b, trafficRouting: {maxTrafficWeight: 0, istio: {virtualService: {name: x}}}}`,
			"trafficRouting.maxTrafficWeight 0 must be positive"},
		{"managed route names", `{canaryService: a, stableService: b, trafficRouting: {managedRoutes: [{name: Canary_Header}, {name: m}, {name: m}], plugins: {argoproj-labs/gatewayAPI: {httpRoute: web}}}}`,
			`trafficRouting.managedRoutes[0].name "Canary_Header" is not a valid Gateway API rule name (lowercase letters, digits, '-' and '.'); ` +
				`trafficRouting.managedRoutes[2].name "m" is listed twice`},
		{"Istio accepts any managed route name", `{canaryService: a, stableService: b, trafficRouting: {managedRoutes: [{name: Canary_Header}], istio: {virtualService: {name: x}}}}`, ""},
		{"header step without a managed route", `
canaryService: a
stableService: b
trafficRouting: {istio: {virtualService: {name: x}}}
steps: [{setHeaderRoute: {name: h, match: [{headerName: x, headerValue: {exact: y}}]}}]`,
			`steps[0].setHeaderRoute.name "h" is not listed in trafficRouting.managedRoutes`},
		{"mirror step without trafficRouting", `{canaryService: a, stableService: b, steps: [{setMirrorRoute: {name: m}}]}`,
			"steps[0].setMirrorRoute needs trafficRouting"},
		{"malformed step matches", `
canaryService: a
stableService: b
trafficRouting: {managedRoutes: [{name: m}], istio: {virtualService: {name: x}}}
steps: [{setMirrorRoute: {name: m, percentage: 150, match: [{path: {exact: /a, prefix: /b}}]}}]`,
			`steps[0].setMirrorRoute.percentage 150 is not between 0 and 100; steps[0].setMirrorRoute.match: each value needs exactly one of exact, prefix and regex`},
		{"header step and no route takes header routes", `
canaryService: a
stableService: b
trafficRouting: {managedRoutes: [{name: h}], plugins: {argoproj-labs/gatewayAPI: {httpRoutes: [{name: web}]}}}
steps: [{setHeaderRoute: {name: h, match: [{headerName: x, headerValue: {exact: y}}]}}]`,
			`steps[0].setHeaderRoute needs a Gateway API route with useHeaderRoutes: true (or the httpRoute/grpcRoute form)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(rollout(t, c.canary))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case c.want == "":
			case err == nil || err.Error() != c.want:
				t.Fatalf("Validate = %v\nwant %s", err, c.want)
			case !trafficrouting.IsConfigError(err):
				t.Fatalf("Validate error %v is not a ConfigError", err)
			}
		})
	}
}
