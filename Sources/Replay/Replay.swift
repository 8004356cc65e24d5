import Coordinator
import EventLog

// Replay of recorded logs (verify, explain, what-if, merge, audit export) lands here with issue 5.
