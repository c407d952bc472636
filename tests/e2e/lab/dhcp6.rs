//! Placeholder until the scripted DHCPv6 client and relay land here.
