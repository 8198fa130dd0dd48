"""The seeds' Istio resources (shared/seeds/*.txt), as the seed documents wrote them."""

from .harness.resources import from_yaml

# --- seed 001: a frontend and a backend in the default namespace -----------------------------------

SEED_001_DENY_ALL_BACKEND, SEED_001_ALLOW_FRONTEND_GET_DATA = from_yaml("""
# deny-all-backend.yaml
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: deny-all-backend
  namespace: default
spec:
  selector:
    matchLabels:
      app: backend
  action: DENY
  rules:
  - {} # An empty rule denies everything
---
# allow-frontend-get-data.yaml
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: allow-frontend-get-data
  namespace: default
spec:
  selector:
    matchLabels:
      app: backend
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/frontend"] # Assuming frontend pod has 'frontend' SA
    to:
    - operation:
        methods: ["GET"]
        paths: ["/api/v1/data"]
""")

# Seed 000's deny-by-default (`spec: {}`: an ALLOW policy without rules), for the default namespace.
(SEED_001_DENY_ALL,) = from_yaml("""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-all
  namespace: default
spec:
  {}
""")

# --- seed 000: the api workload (app=api) in the production namespace ------------------------------

SEED_000 = from_yaml("""
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: db-strict
  namespace: database
spec:
  selector:
    matchLabels:
      app: postgres
  mtls:
    mode: STRICT
  portLevelMtls:
    5432:
      mode: STRICT
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-all
  namespace: production
spec:
  {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-frontend-to-api
  namespace: production
spec:
  selector:
    matchLabels:
      app: api
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/production/sa/frontend"]
    to:
    - operation:
        methods: ["GET", "POST"]
        paths: ["/api/v1/*", "/healthz"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-external-to-admin
  namespace: production
spec:
  selector:
    matchLabels:
      app: api
  action: DENY
  rules:
  - from:
    - source:
        notNamespaces: ["production"]
    to:
    - operation:
        paths: ["/admin/*"]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt-auth
  namespace: production
spec:
  selector:
    matchLabels:
      app: api
  jwtRules:
  - issuer: "https://auth.example.com"
    jwksUri: "https://auth.example.com/.well-known/jwks.json"
    forwardOriginalToken: true
    outputPayloadToHeader: "x-jwt-payload"
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
  namespace: production
spec:
  selector:
    matchLabels:
      app: api
  action: ALLOW
  rules:
  - from:
    - source:
        requestPrincipals: ["https://auth.example.com/*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: allow-external-api
  namespace: production
spec:
  hosts:
  - "api.stripe.com"
  ports:
  - number: 443
    name: https
    protocol: TLS
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: restrict-egress-stripe
  namespace: production
spec:
  selector:
    matchLabels:
      app: payment-service
  action: ALLOW
  rules:
  - to:
    - operation:
        hosts: ["api.stripe.com"]
        ports: ["443"]
""")
SEED_000_WORKLOAD = {"namespace": "production", "labels": {"app": "api"}}

# Seed 000's ingress gateway (its "Istio Ingress Gateway Security" section), for the
# istio-system/istio=ingressgateway workload: HTTPS on 443 with TLS terminated by the gateway, and
# port 80 redirecting to HTTPS. servers[1] is the redirecting one.
(SEED_000_GATEWAY,) = from_yaml("""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: app-gateway
  namespace: production
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: app-tls-cert
    hosts:
    - "app.example.com"
  - port:
      number: 80
      name: http
      protocol: HTTP
    tls:
      httpsRedirect: true
    hosts:
    - "app.example.com"
""")
SEED_000_GATEWAY_WORKLOAD = {"namespace": "istio-system", "labels": {"istio": "ingressgateway"}}


def seed_000(kind: str, name: str) -> dict:
    """One of SEED_000's resources, by kind and name."""
    (found,) = [r for r in SEED_000 if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


SEED_000_MESH_STRICT = seed_000("PeerAuthentication", "default")
SEED_000_DB_STRICT = seed_000("PeerAuthentication", "db-strict")
SEED_000_SERVICE_ENTRY = seed_000("ServiceEntry", "allow-external-api")
SEED_000_RESTRICT_EGRESS = seed_000("AuthorizationPolicy", "restrict-egress-stripe")
SEED_000_EGRESS_WORKLOAD = {"namespace": "production", "labels": {"app": "payment-service"}}
