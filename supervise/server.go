// Package supervise is the sidecar's MCP server, through which the agent
// takes part in its own supervision: it can read why it was blocked
// (why_blocked), what the allowlist allows (list_rules), and ask a human
// for access with a reason (request_access), which files a pending
// approval (package approval) and waits for the human's decision. The
// agent cannot decide anything: no tool approves, and the decisions come
// only from the host, through a directory the agent never sees.
//
// It speaks MCP over streamable HTTP (the official Go SDK, which only this
// package imports) at contract.MCPPath, on the internal network's address
// only, and answers only peers inside that network.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/internal/contract"
)

// Approvals is what the server needs of the approval broker
// (*approval.Broker).
type Approvals interface {
	// AskMCP files q (Source mcp, the agent's reason) and blocks until a
	// human decides, timeout passes, or ctx ends.
	AskMCP(ctx context.Context, q approval.Request, timeout time.Duration) (string, approval.Decision)
	// Granted says whether a session grant admits req.
	Granted(req allowlist.Request) (string, bool)
	// ActiveGrants are the session grants in force.
	ActiveGrants() []approval.Grant
}

// Config configures a Server.
type Config struct {
	Bottle string // the bottle's name, in the commands the tools suggest
	// Policy returns the policy in force (required): the sidecar's, as
	// reloads replace it.
	Policy func() *allowlist.Policy
	// ApprovalsFlag overrides the policy's approvals: when not "" ("ask"
	// or "off": `bottle launch --approvals`).
	ApprovalsFlag string
	// Approvals is the broker; nil: there is no channel to the host, and
	// request_access says so.
	Approvals Approvals
	// Denials are the audit log's last denials, for why_blocked; nil:
	// none are known.
	Denials *Denials
	// Clients are the peers served; a connection from anywhere else is
	// closed before a byte is read. Empty: any peer.
	Clients []netip.Prefix
	// Scrub removes credential values from what the agent wrote (its
	// reason) before it is filed; nil: nothing to remove.
	Scrub  func(string) string
	Logger *slog.Logger

	progressEvery time.Duration // 0: progressEvery (tests set less)
}

// Bounds on what the agent can make the server hold.
const (
	// maxSessions is how many MCP sessions are open at once; a new one
	// over it is refused (400) until one ends or idles out.
	maxSessions = 64
	// sessionIdle closes a session nobody used for that long (a blocked
	// request_access is use: the SDK pauses the clock while one runs).
	sessionIdle = 15 * time.Minute
	// maxBody bounds a request body: the tools' arguments are small.
	maxBody = 64 << 10
	// headerTimeout bounds how long a request's headers may take.
	headerTimeout = 10 * time.Second
)

// Server is the supervise MCP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mcp     *mcp.Server
	handler http.Handler

	mu      sync.Mutex
	servers []*http.Server
	// asking has a slot per request_access waiting for a human
	// (maxAsking).
	asking chan struct{}
}

// New builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Policy == nil {
		return nil, errors.New("supervise: Config.Policy is required")
	}
	if cfg.ApprovalsFlag != "" && cfg.ApprovalsFlag != "ask" && cfg.ApprovalsFlag != "off" {
		return nil, fmt.Errorf("supervise: approvals %q: want ask, off or empty", cfg.ApprovalsFlag)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.progressEvery == 0 {
		cfg.progressEvery = progressEvery
	}
	s := &Server{cfg: cfg, log: log, asking: make(chan struct{}, maxAsking)}
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: "bottle-supervise", Title: "bottle supervise", Version: "v1"},
		&mcp.ServerOptions{Instructions: instructions, Capabilities: &mcp.ServerCapabilities{}})
	s.addTools()
	// Stateful sessions: a 2025 client cancels a blocked request_access
	// with notifications/cancelled, which only a stateful server sees
	// (a stateless one runs it to its end). Newer clients fall back to
	// initialize.
	h := mcp.NewStreamableHTTPHandler(s.session, &mcp.StreamableHTTPOptions{
		SessionTimeout:      sessionIdle,
		MaxRequestBodyBytes: maxBody,
		Logger:              log,
	})
	mux := http.NewServeMux()
	mux.Handle(contract.MCPPath, http.NewCrossOriginProtection().Handler(h))
	s.handler = s.peers(mux)
	return s, nil
}

const instructions = `This server is bottle's supervisor: this sandbox reaches the network only through an allowlist.
When a request is blocked (a 403 from the proxy, or a DNS name that does not resolve), call why_blocked to see why and which rule would allow it,
and list_rules to see what is allowed. To ask the human for access, call request_access with the host (and port, method, path when you know them)
and your reason: it waits until the human decides, and returns the decision and the human's note. You cannot allow anything yourself.`

// session gives each new MCP session the server, up to maxSessions.
func (s *Server) session(*http.Request) *mcp.Server {
	n := 0
	for range s.mcp.Sessions() {
		n++
	}
	if n >= maxSessions {
		s.log.Warn("mcp: too many sessions; a new one refused", "max", maxSessions)
		return nil
	}
	return s.mcp
}

// Handler is the server's HTTP handler: the MCP endpoint at
// contract.MCPPath, answering only peers inside Config.Clients.
func (s *Server) Handler() http.Handler { return s.handler }

// peers answers 403 to a peer outside Config.Clients (the listener has
// closed its connection already when Serve runs it; this is for a
// handler mounted elsewhere).
func (s *Server) peers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !s.allowed(ap.Addr()) {
			http.Error(w, "bottle supervise answers only the bottle's internal network", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) allowed(a netip.Addr) bool {
	if len(s.cfg.Clients) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range s.cfg.Clients {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Serve answers MCP on ln until Shutdown. There is no write timeout: a
// request_access blocks for as long as the approval timeout (at most
// allowlist.MaxApprovalTimeout), and bounds itself.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	err := hs.Serve(peerListener{Listener: ln, s: s})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops every Serve. It closes the MCP sessions first: a
// client's standalone event stream would otherwise hold its connection
// open until ctx ends. A blocked request_access ends when the broker
// closes (which answers it), or with its connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	for _, hs := range servers {
		hs.SetKeepAlivesEnabled(false)
	}
	for ss := range s.mcp.Sessions() {
		ss.Close()
	}
	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// peerListener closes, before reading a byte, the connections of peers
// outside Config.Clients: Linux delivers a packet for the internal
// address whatever interface it came in on, so the egress side could
// reach the listener too.
type peerListener struct {
	net.Listener
	s *Server
}

func (l peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ta, ok := c.RemoteAddr().(*net.TCPAddr)
		if ok && l.s.allowed(ta.AddrPort().Addr()) {
			return c, nil
		}
		l.s.log.Debug("mcp: connection from outside the client ranges closed", "peer", c.RemoteAddr().String())
		c.Close()
	}
}
