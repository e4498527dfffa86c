package terminal

import (
	"errors"
	"io"
	"os"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// chunkSource on Windows is the stream itself. The daemon refuses --pty and
// --terminal there at startup (process.TerminalsSupported), so no terminal
// session reads one; this keeps the package whole for what it shares.
type chunkSource = *os.File

func newChunkSource(f *os.File) (chunkSource, error) { return f, nil }

// readChunk reads once, up to a chunk; a passed read deadline is the end of
// output, as on Unix.
func readChunk(f chunkSource) (*outChunk, error) {
	buf := frame.GetChunk()
	n, err := f.Read(buf)
	if err != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed)) {
		err = io.EOF
	}
	if n == 0 {
		frame.PutChunk(buf)
		return nil, err
	}
	return newOutChunk(buf, n), err
}
