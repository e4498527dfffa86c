package process

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// procSys is what a child needs on Windows: its process handle, and the job
// object that holds it and every process it starts, which is what the
// session owns (the process group of Unix).
type procSys struct {
	handle windows.Handle // the child; closed in ended
	jobMu  sync.Mutex
	job    windows.Handle // zero once closed in ended
	// terminated: the kill sequence ended the job, so the exit code the
	// child got from it (terminateCode) means "killed", as SIGKILL does.
	terminated atomic.Bool
}

// terminateCode is the exit code TerminateJobObject gives: 128+9, what a
// shell reports for SIGKILL.
const terminateCode = 137

// terminal: there are no terminals on Windows (see ErrNoTerminal).
func (p *Process) terminal() *os.File { return nil }

// pathSeparators: a command naming one of these is a path, not a name to
// look up on PATH.
const pathSeparators = `/\`

// Executable reports whether Windows would run path: its extension is one
// PATHEXT lists (.exe, .bat, .cmd...), which is what exec.LookPath goes by.
func Executable(path string, mode fs.FileMode) bool {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == "" {
		return false
	}
	pathext := os.Getenv("PATHEXT")
	if pathext == "" {
		pathext = ".com;.exe;.bat;.cmd"
	}
	for _, e := range strings.Split(strings.ToLower(pathext), ";") {
		if e == ext {
			return true
		}
	}
	return false
}

// ExecutableHint says how to make path executable.
func ExecutableHint(path string) string {
	return "give it an extension PATHEXT lists (.exe, .bat, .cmd): " + path
}

// spawn starts the child on three pipes, suspended, in a new console
// process group (so Ctrl-Break reaches it and its children, not the daemon)
// and in a job object of its own before its first instruction runs, so
// that nothing it starts escapes the job.
func (p *Process) spawn(cfg Config) (err error) {
	if cfg.Terminal != nil {
		return ErrNoTerminal
	}
	child, err := p.openPipes()
	if err != nil {
		return err
	}
	defer closeHandles(child[:])
	defer func() {
		if err != nil {
			p.closeStreams()
			p.ended()
		}
	}()
	if p.job, err = newJob(); err != nil {
		return err
	}
	pid, h, err := syscall.StartProcess(cfg.Path, cfg.Args, &syscall.ProcAttr{
		Dir:   cfg.Dir,
		Env:   withSystemRoot(cfg.Env),
		Files: []uintptr{uintptr(child[0]), uintptr(child[1]), uintptr(child[2])},
		Sys: &syscall.SysProcAttr{
			CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.CREATE_SUSPENDED,
		},
	})
	if err != nil {
		return err
	}
	p.Pid, p.handle = pid, windows.Handle(h)
	if err := windows.AssignProcessToJobObject(p.job, p.handle); err != nil {
		windows.TerminateProcess(p.handle, terminateCode)
		return fmt.Errorf("job object: %w", err)
	}
	if err := resume(pid); err != nil {
		windows.TerminateJobObject(p.job, terminateCode)
		return err
	}
	go p.waitExit()
	return nil
}

// newJob makes the job object a child runs in. Closing its last handle ends
// whatever is still in it, so not even a daemon that dies leaves its
// sessions' processes behind.
func newJob() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("job object: %w", err)
	}
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return 0, fmt.Errorf("job object: %w", err)
	}
	return job, nil
}

// resume starts the threads of a process created suspended. CreateProcess
// returns its first thread, but syscall.StartProcess closes that handle:
// find it among the process's threads.
func resume(pid int) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	defer windows.CloseHandle(snap)
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != uint32(pid) {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		_, err = windows.ResumeThread(th)
		windows.CloseHandle(th)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		resumed++
	}
	if resumed == 0 {
		return errors.New("resume: the new process has no thread")
	}
	return nil
}

// withSystemRoot adds the daemon's SYSTEMROOT to env when it lacks one, as
// os/exec does: without it much of Windows (sockets, crypto) fails in the
// child. An empty env would otherwise also mean "inherit the daemon's".
func withSystemRoot(env []string) []string {
	for _, kv := range env {
		if len(kv) > 11 && strings.EqualFold(kv[:11], "SYSTEMROOT=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "SYSTEMROOT="+os.Getenv("SYSTEMROOT"))
}

// waitExit waits for the child to exit. Windows has no SIGCHLD: each running
// child parks a goroutine, and the thread under it, here.
func (p *Process) waitExit() {
	st := Status{Code: -1}
	if _, err := windows.WaitForSingleObject(p.handle, windows.INFINITE); err == nil {
		var code uint32
		if windows.GetExitCodeProcess(p.handle, &code) == nil {
			st = p.statusFromExit(code)
		}
	}
	st.reaped = true
	p.exited(st)
}

// statusFromExit reads an exit code the way the Unix kill sequence's ends
// read: the job ended by the kill sequence is "killed by signal KILL", and
// Ctrl-Break's default handler (STATUS_CONTROL_C_EXIT) "killed by signal
// INT", so the client gets the same close code on every platform.
func (p *Process) statusFromExit(code uint32) Status {
	switch {
	case code == terminateCode && p.terminated.Load():
		return Status{Code: -1, Signal: syscall.SIGKILL}
	case code == uint32(windows.STATUS_CONTROL_C_EXIT):
		return Status{Code: -1, Signal: syscall.SIGINT}
	}
	return Status{Code: int(code)}
}

// pipeSeq and pipeNonce make each pipe's name unique and hard to guess.
var (
	pipeSeq   atomic.Uint64
	pipeNonce = func() uint64 {
		var b [8]byte
		rand.Read(b[:])
		return binary.LittleEndian.Uint64(b[:])
	}()
)

// openPipes makes the child's three streams, each a named pipe of one
// instance whose daemon end is overlapped, so it joins Go's poller (reads
// and writes park a goroutine, deadlines and Close interrupt them), and
// whose child end is synchronous, as programs expect. stderr is a pipe of
// its own: Windows has no socket pair to share with stdin.
func (p *Process) openPipes() (child [3]windows.Handle, err error) {
	var ours [3]*os.File
	defer func() {
		if err != nil {
			closeAll(ours[:])
			closeHandles(child[:])
		}
	}()
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		ours[i], child[i], err = newPipe(name, i == 0)
		if err != nil {
			return child, err
		}
	}
	p.Stdin, p.Stdout, p.Stderr = ours[0], ours[1], ours[2]
	return child, nil
}

// newPipe makes one pipe; toChild says which way it carries data.
func newPipe(stream string, toChild bool) (ours *os.File, theirs windows.Handle, err error) {
	name := fmt.Sprintf(`\\.\pipe\wsbridge-%d-%x-%d-%s`, os.Getpid(), pipeNonce, pipeSeq.Add(1), stream)
	name16, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, 0, fmt.Errorf("pipe: %w", err)
	}
	access, childAccess := uint32(windows.PIPE_ACCESS_INBOUND), uint32(windows.GENERIC_WRITE|windows.FILE_READ_ATTRIBUTES)
	if toChild {
		access, childAccess = windows.PIPE_ACCESS_OUTBOUND, windows.GENERIC_READ|windows.FILE_WRITE_ATTRIBUTES
	}
	h, err := windows.CreateNamedPipe(name16,
		access|windows.FILE_FLAG_OVERLAPPED|windows.FILE_FLAG_FIRST_PIPE_INSTANCE,
		windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT|windows.PIPE_REJECT_REMOTE_CLIENTS,
		1, stdinBuffer, stdinBuffer, 0, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("pipe: %w", err)
	}
	// The one instance is taken at once by the child's end: nobody else can
	// open the pipe after this.
	theirs, err = windows.CreateFile(name16, childAccess, 0, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		windows.CloseHandle(h)
		return nil, 0, fmt.Errorf("pipe: %w", err)
	}
	return os.NewFile(uintptr(h), stream), theirs, nil
}

// stdinBuffer is what each pipe buffers, about a Unix pipe's: a child that
// does not read pushes back on the client early.
const stdinBuffer = 64 << 10

func closeHandles(hs []windows.Handle) {
	for _, h := range hs {
		if h != 0 {
			windows.CloseHandle(h)
		}
	}
}

// CloseStdin tells the child there is no more input: its end of the pipe
// reads EOF once the daemon's end is closed. It is safe to call more than
// once and concurrently with a Write blocked on Stdin.
func (p *Process) CloseStdin() {
	p.stdinMu.Do(func() {
		// A Write blocked on a child that does not read returns at once.
		p.Stdin.SetWriteDeadline(time.Now())
		p.Stdin.Close()
	})
}

// killSteps: close stdin, then Ctrl-Break to the child's console process
// group (which reaches a console program that shares the daemon's console;
// a daemon without one skips it), then end the whole job.
func (p *Process) killSteps() []killStep {
	return []killStep{
		{p.CloseStdin, waitAfterStdin},
		{p.ctrlBreak, waitAfterSIGINT + waitAfterSIGTERM},
		{p.killGroup, waitAfterSIGKILL},
	}
}

func (p *Process) ctrlBreak() {
	windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(p.Pid))
}

// killGroup ends every process of the job at once.
func (p *Process) killGroup() {
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	if p.job != 0 {
		p.terminated.Store(true)
		windows.TerminateJobObject(p.job, terminateCode)
	}
}

// jobAccounting is JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, which
// golang.org/x/sys/windows does not define.
type jobAccounting struct {
	TotalUserTime, TotalKernelTime                       int64
	ThisPeriodTotalUserTime, ThisPeriodTotalKernelTime   int64
	TotalPageFaultCount, TotalProcesses, ActiveProcesses uint32
	TotalTerminatedProcesses                             uint32
}

// groupAlive reports whether any process of the job still runs.
func (p *Process) groupAlive() bool {
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	if p.job == 0 {
		return false
	}
	var info jobAccounting
	if err := windows.QueryInformationJobObject(p.job, windows.JobObjectBasicAccountingInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil); err != nil {
		return false
	}
	return info.ActiveProcesses > 0
}

// ended lets go of the child's handles once it is reaped and its job empty
// (or past the kill sequence: closing the job ends what is left of it).
func (p *Process) ended() {
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	closeHandles([]windows.Handle{p.job, p.handle})
	p.job, p.handle = 0, 0
}
