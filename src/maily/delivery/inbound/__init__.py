"""`maily inbound`: the SMTP server bounce and complaint mail comes back to."""
