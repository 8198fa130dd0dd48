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
