package installer

import (
	"errors"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// EventSource is the Event Log source this process writes under: the name of the service it runs as,
// since the installer registers the source under the service's name, whatever name it was given; or
// DefaultName outside a service, or when the service manager cannot say.
func EventSource() string { return eventSource() }

var eventSource = sync.OnceValue(func() string {
	names, pids, err := activeServices()
	if err != nil {
		return DefaultName
	}
	return sourceOf(names, pids, uint32(os.Getpid()))
})

// activeServices lists the running (or starting, or stopping) Win32 services' names and process ids.
func activeServices() (names []string, pids []uint32, err error) {
	h, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_ENUMERATE_SERVICE)
	if err != nil {
		return nil, nil, err
	}
	defer windows.CloseServiceHandle(h)
	buf := make([]byte, 16<<10)
	var resume uint32
	for {
		var needed, count uint32
		err := windows.EnumServicesStatusEx(h, windows.SC_ENUM_PROCESS_INFO, windows.SERVICE_WIN32, windows.SERVICE_ACTIVE,
			&buf[0], uint32(len(buf)), &needed, &count, &resume, nil)
		if err != nil && !errors.Is(err, windows.ERROR_MORE_DATA) {
			return nil, nil, err
		}
		if count > 0 {
			for _, s := range unsafe.Slice((*windows.ENUM_SERVICE_STATUS_PROCESS)(unsafe.Pointer(&buf[0])), count) {
				names = append(names, windows.UTF16PtrToString(s.ServiceName))
				pids = append(pids, s.ServiceStatusProcess.ProcessId)
			}
		}
		if err == nil {
			return names, pids, nil
		}
		if int(needed) > len(buf) {
			buf = make([]byte, needed)
		}
	}
}
