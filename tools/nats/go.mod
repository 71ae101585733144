// The NATS server dev's overlay of deploy/k8s runs (nats:2.10.22-alpine
// there): built from its module, static, for the test cluster's image of
// that name (make k8s-e2e-images builds it into out/bin/nats-server).
module github.com/daprshop/daprshop/tools/nats

go 1.26.4

require (
	github.com/klauspost/compress v1.17.11 // indirect
	github.com/minio/highwayhash v1.0.3 // indirect
	github.com/nats-io/jwt/v2 v2.5.8 // indirect
	github.com/nats-io/nats-server/v2 v2.10.22 // indirect
	github.com/nats-io/nkeys v0.4.7 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	go.uber.org/automaxprocs v1.6.0 // indirect
	golang.org/x/crypto v0.28.0 // indirect
	golang.org/x/sys v0.26.0 // indirect
	golang.org/x/time v0.7.0 // indirect
)

tool github.com/nats-io/nats-server/v2
