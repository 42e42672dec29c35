package allowlist

import (
	"slices"
	"strings"
)

// service is a protocol people name by its port: `--port https`, or the
// scheme of a URL they paste (postgres://db.test/app).
type service struct {
	name string
	port uint16
	// http: the protocol is HTTP, possibly inside TLS, so the proxy can
	// intercept it and check every request. Anything else needs
	// `tls: passthrough`.
	http bool
}

// services are the common ones. A name that is not here is refused with
// the list, never guessed.
var services = []service{
	{"http", 80, true},
	{"https", 443, true},
	{"ws", 80, true},
	{"wss", 443, true},
	{"http-alt", 8080, true},
	{"https-alt", 8443, true},
	{"ssh", 22, false},
	{"git", 9418, false},
	{"smtp", 25, false},
	{"submission", 587, false},
	{"smtps", 465, false},
	{"imaps", 993, false},
	{"ldap", 389, false},
	{"ldaps", 636, false},
	{"mysql", 3306, false},
	{"postgres", 5432, false},
	{"postgresql", 5432, false},
	{"mssql", 1433, false},
	{"redis", 6379, false},
	{"mongodb", 27017, false},
	{"amqp", 5672, false},
	{"amqps", 5671, false},
	{"kafka", 9092, false},
	{"nats", 4222, false},
}

// ServicePort returns the port of a service name ("https" → 443, "ssh" →
// 22), any case, and whether the protocol is HTTP (so that an intercepted
// rule suits it).
func ServicePort(name string) (port uint16, http, ok bool) {
	name = strings.ToLower(name)
	for _, s := range services {
		if s.name == name {
			return s.port, s.http, true
		}
	}
	return 0, false, false
}

// ServiceNames are the names ServicePort knows, for messages.
func ServiceNames() []string {
	out := make([]string, len(services))
	for i, s := range services {
		out[i] = s.name
	}
	return out
}

// nonHTTPPort reports whether port is the usual port of a protocol that is
// not HTTP (22, 5432, …): a rule for it needs tls: passthrough.
func nonHTTPPort(port uint16) bool {
	return slices.ContainsFunc(services, func(s service) bool { return s.port == port && !s.http })
}
