import EventLog

// The pure, deterministic HA core (detection, lease, takeover, failback) lands here with issue 3. The target
// exists now so that the package has its final shape and the log's API is shaped by its first user.
