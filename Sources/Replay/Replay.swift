import Coordinator
import EventLog

/// Replay of recorded logs (issue 5).
public enum ReplayPlaceholder {}
