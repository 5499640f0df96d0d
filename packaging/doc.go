// Package packaging holds the sources of the release artefacts that are not Go code: the systemd unit
// the .deb and .rpm ship (rendered by installer.RenderSystemdUnit and kept in sync by a test), the
// maintainer scripts, the nfpm and WiX (wixl) definitions, and the Debian copyright file. scripts/release
// builds dist/ from them. Its tests check the artefacts (dpkg-deb, lintian, msiinfo) when RELEASE_DIST
// names a dist directory, and drive the real-systemd lane (scripts/systemd-lane) when SYSTEMD_LANE is set.
// It has no non-test code.
package packaging
