// Package docs holds the documentation the binary serves: the OpenAPI 3
// description of the HTTP API (openapi.yaml, at /api/openapi.yaml).
package docs

import _ "embed"

// OpenAPI is openapi.yaml: the HTTP API's contract, checked against real
// requests and answers by server/openapi_test.go.
//
//go:embed openapi.yaml
var OpenAPI []byte
