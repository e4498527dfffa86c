package redistest

// Freeze would stop the server with SIGSTOP, which Windows lacks: a test that
// needs a server that stops answering is skipped there.
func (s *Server) Freeze() {
	s.t.Helper()
	s.t.Skip("redistest: freezing redis-server needs SIGSTOP, which Windows lacks")
}

// Thaw: nothing on Windows is ever frozen.
func (s *Server) Thaw() {}
