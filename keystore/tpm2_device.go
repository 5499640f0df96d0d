package keystore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// DefaultTPMDevice is the kernel's TPM 2.0 resource manager: it virtualises object handles per open
// file, so the agent and other TPM users (systemd-creds, tpm2-tools) do not collide.
const DefaultTPMDevice = "/dev/tpmrm0"

// swtpmPrefix names a software TPM's TCP server socket instead of a device, e.g.
// "swtpm:host=127.0.0.1,port=2321" (the TCTI syntax of tpm2-tools): for tests and the sandbox only.
const swtpmPrefix = "swtpm:"

// IsSoftwareTPM reports whether device names a software TPM socket rather than a TPM device: config
// allows it only with environment sandbox.
func IsSoftwareTPM(device string) bool { return strings.HasPrefix(device, swtpmPrefix) }

// SWTPMDevice is the device string of swtpm's TCP server socket at host:port.
func SWTPMDevice(host string, port int) string {
	return fmt.Sprintf("%shost=%s,port=%d", swtpmPrefix, host, port)
}

// openTPM opens the TPM named by device: a character device (default DefaultTPMDevice) or a software
// TPM socket (IsSoftwareTPM). Errors name the device and what to do.
func openTPM(device string) (transport.TPMCloser, error) {
	if device == "" {
		device = DefaultTPMDevice
	}
	if IsSoftwareTPM(device) {
		t, err := dialSWTPM(device)
		if err != nil {
			return nil, err
		}
		return retryTPM{t}, nil
	}
	fi, err := os.Stat(device)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("keystore tpm2: no TPM at %s: this machine has no TPM 2.0, it is disabled in the firmware, or the kernel driver is not loaded (tpm_crb or tpm_tis); enable the TPM in the firmware setup, or use backend systemd-creds instead: %w", device, ErrUnavailable)
	case err != nil:
		return nil, fmt.Errorf("keystore tpm2: %s: %v: %w", device, err, ErrUnavailable)
	case fi.Mode()&fs.ModeCharDevice == 0:
		return nil, fmt.Errorf("keystore tpm2: %s is not a character device: set maskinporten.key.device to the TPM resource manager (%s): %w", device, DefaultTPMDevice, ErrUnavailable)
	}
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("keystore tpm2: no permission to open %s: run the command as root, or add the account to the group that owns the device (Debian: tss, from package tpm-udev): %w", device, ErrUnavailable)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: open %s: %v: %w", device, err, ErrUnavailable)
	}
	return retryTPM{transport.FromReadWriteCloser(f)}, nil
}

// swtpmTimeout bounds one command on a software TPM socket; RSA key generation is the slowest.
const swtpmTimeout = 2 * time.Minute

// dialSWTPM connects to swtpm's server socket ("swtpm socket --server type=tcp,port=P"), which takes and
// returns raw TPM command and response bytes.
func dialSWTPM(device string) (transport.TPMCloser, error) {
	var host, port string
	for _, kv := range strings.Split(strings.TrimPrefix(device, swtpmPrefix), ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "host":
			host = v
		case "port":
			port = v
		default:
			return nil, fmt.Errorf("keystore tpm2: software TPM %q: unknown field %q: write swtpm:host=127.0.0.1,port=2321", device, k)
		}
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("keystore tpm2: software TPM %q: the port is missing or not a number: write swtpm:host=127.0.0.1,port=2321", device)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: no software TPM at %s (%v): start it with \"swtpm socket --tpm2 --server type=tcp,port=%s --ctrl type=tcp,port=<port+1> --flags not-need-init,startup-clear --tpmstate dir=<dir>\": %w", net.JoinHostPort(host, port), err, port, ErrUnavailable)
	}
	return &socketTPM{c: c}, nil
}

// socketTPM sends raw TPM commands over a stream: each response is a 10-byte header (tag, size, code)
// whose size covers the whole response.
type socketTPM struct{ c net.Conn }

// maxTPMResponse is far above any response the agent asks for (a TPM's buffer is 4 KiB).
const maxTPMResponse = 64 << 10

// Send implements transport.TPM.
func (s *socketTPM) Send(cmd []byte) ([]byte, error) {
	if err := s.c.SetDeadline(time.Now().Add(swtpmTimeout)); err != nil {
		return nil, err
	}
	if _, err := s.c.Write(cmd); err != nil {
		return nil, fmt.Errorf("software TPM: send: %w", err)
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(s.c, hdr); err != nil {
		return nil, fmt.Errorf("software TPM: read the response header: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > maxTPMResponse {
		return nil, fmt.Errorf("software TPM: response size %d is not plausible", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(s.c, rsp[10:]); err != nil {
		return nil, fmt.Errorf("software TPM: read the response: %w", err)
	}
	return rsp, nil
}

// Close implements transport.TPMCloser.
func (s *socketTPM) Close() error { return s.c.Close() }

// retryTPM resends a command the TPM answered with a "try again" warning (TPM_RC_RETRY, TPM_RC_YIELDED,
// TPM_RC_TESTING), as the TPM specification asks callers to, a bounded number of times.
type retryTPM struct{ transport.TPMCloser }

// Send implements transport.TPM.
func (r retryTPM) Send(cmd []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		rsp, err := r.TPMCloser.Send(cmd)
		if err != nil || len(rsp) < 10 || attempt == 20 {
			return rsp, err
		}
		switch tpm2.TPMRC(binary.BigEndian.Uint32(rsp[6:10])) {
		case tpm2.TPMRCRetry, tpm2.TPMRCYielded, tpm2.TPMRCTesting:
			time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
			continue
		}
		return rsp, nil
	}
}
