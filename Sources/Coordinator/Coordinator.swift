import EventLog

/// The pure HA core (issue 3). For now only the record types the log already carries.
public enum CoordinatorPlaceholder {}
