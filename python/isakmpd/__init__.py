"""isakmpd for Linux: an IKEv1 (ISAKMP/Oakley) key-management daemon."""

__version__ = "0.1.0"
