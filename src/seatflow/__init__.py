"""seatflow: license provisioning and billing for cloud resellers."""

__version__ = "0.1.0"
