// Package goldmaneapi is the Go code of goldmane.proto: the part of
// Calico Goldmane's Flows gRPC API (projectcalico/calico
// goldmane/proto/api.proto, package goldmane) that `flowsieve ingest
// goldmane` uses. Same package, service and field numbers as Goldmane's
// file, so it speaks Goldmane's wire protocol; the generated files are
// committed so a build needs no protoc.
//
// Regenerate with Debian's protobuf-compiler 3.21.12,
// protoc-gen-go v1.36.12 and protoc-gen-go-grpc v1.6.2 on PATH.
package goldmaneapi

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative goldmane.proto
