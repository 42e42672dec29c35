package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"os/exec"

	"golang.org/x/crypto/ssh"
)

// serveSSH is the simulated internet's ssh server: any client may log in
// (no authentication), and each exec request runs its command with sh, so
// `git clone ssh://HOST/git/...` runs git-upload-pack on the test
// repositories. Only in the fakenet image built on the test base, which has
// sh and git.
func serveSSH(addr string) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatalf("fakenet ssh: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		log.Fatalf("fakenet ssh: %v", err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true, ServerVersion: "SSH-2.0-fakenet"}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("fakenet ssh: %v", err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("fakenet ssh: %v", err)
		}
		go func() {
			defer c.Close()
			_, chans, reqs, err := ssh.NewServerConn(c, cfg)
			if err != nil {
				return
			}
			go ssh.DiscardRequests(reqs)
			for nc := range chans {
				if nc.ChannelType() != "session" {
					nc.Reject(ssh.UnknownChannelType, "session only")
					continue
				}
				ch, creqs, err := nc.Accept()
				if err != nil {
					continue
				}
				go session(ch, creqs)
			}
		}()
	}
}

// session serves one ssh session: its first exec request, and nothing else.
func session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" || len(req.Payload) < 4 {
			req.Reply(false, nil)
			continue
		}
		n := binary.BigEndian.Uint32(req.Payload)
		if int(n) > len(req.Payload)-4 {
			req.Reply(false, nil)
			continue
		}
		req.Reply(true, nil)
		cmd := exec.Command("sh", "-c", string(req.Payload[4:4+n]))
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		status := uint32(0)
		if err := cmd.Run(); err != nil {
			status = 127
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = uint32(ee.ExitCode())
			}
		}
		ch.CloseWrite()
		ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
		return
	}
}

// serveGreeter is a protocol where the server speaks first (like MySQL or
// SMTP): a greeting, then one reply per line the client sends.
func serveGreeter(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("fakenet greeter: %v", err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("fakenet greeter: %v", err)
		}
		go func() {
			defer c.Close()
			io.WriteString(c, "220 fakenet ready\r\n")
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					io.WriteString(c, "250 got ")
					c.Write(buf[:n])
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
