// Package deploytest holds the tests of the deployment files at the root of
// the repository: docker-compose.yml, loaded with the Compose
// specification's own loader (no Docker engine needed), and the Dockerfile.
// It has no code of its own.
package deploytest
