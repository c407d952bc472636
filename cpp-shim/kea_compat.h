// kea_compat.h: the one place where the shim meets the differences between the Kea releases it
// builds against (2.6.3 from Debian trixie, 3.0.x from trixie-backports). Every shim source
// includes it first.
//
// build.rs reads KEA_HOOKS_VERSION from the installed <hooks/hooks.h> and passes it as the macro
// KC_KEA_HOOKS_VERSION (Kea's own is a const int, which #if cannot test); it links the libraries
// of that release (3.0 renamed libkea-dhcp++ to libkea-dhcp and libkea-cfgclient to libkea-config).
//
// What differs, and how the shim stays on the common ground:
// - Kea's installed headers expect its config.h before them: in 3.0 dhcpsrv/srv_config.h reaches
//   asiolink/crypto_tls.h (through config/http_command_config.h and http/listener.h), which stops
//   with "#error config.h must be included before crypto_tls.h" otherwise, and needs OpenSSL's
//   headers (libssl-dev: Debian's kea-dev does not depend on it). 2.6.3 ships a config.h too.
// - config.h defines PACKAGE_VERSION, quoted in 2.6.3 and bare (3.0.3) in 3.0: the shim uses
//   neither; KEA_HOOKS_VERSION is what names a release.
// - 3.0 passes ConstSubnet6Ptr where 2.6 passed Subnet6Ptr (lease6_select's "subnet6"), and
//   CfgSubnets6::getAll() holds Subnet6Ptr in both: the shim reads no subnet argument and only
//   iterates getAll() with auto.
// - Element::toJSON() and equals() gained a defaulted parameter in 3.0: the shim calls str(),
//   which is the same in both.
#ifndef KEA_CLOUDSTACK_KEA_COMPAT_H
#define KEA_CLOUDSTACK_KEA_COMPAT_H

#include <config.h>

#include <hooks/hooks.h>

#ifndef KC_KEA_HOOKS_VERSION
#error "KC_KEA_HOOKS_VERSION is not defined: the shim is built by build.rs, which reads it from <hooks/hooks.h>"
#endif

#if KC_KEA_HOOKS_VERSION < 20600 || KC_KEA_HOOKS_VERSION >= 30100
#error "the shim supports Kea 2.6.x and 3.0.x (KEA_HOOKS_VERSION 206xx, 300xx)"
#endif

namespace isc {
namespace cloudstack {

// The version build.rs chose the libraries for is the version of the headers in use.
static_assert(KC_KEA_HOOKS_VERSION == KEA_HOOKS_VERSION,
              "build.rs read another KEA_HOOKS_VERSION than <hooks/hooks.h> holds: stale KEA_INCLUDE?");

} // namespace cloudstack
} // namespace isc

#endif
