import Crypto

extension State {
    /// A canonical encoding of the whole state, hashed into the log's state digests. Every stored property is
    /// in it, in declaration order, each list with its length first, so that two states that could decide
    /// differently never share a digest (`DigestCoverageTests` fails when a property is left out).
    public func canonicalEncoding() -> [UInt8] {
        var out = CanonicalBytes(capacity: 768)
        out.appendVarint(UInt64(me))
        if let config {
            out.append(1)
            config.encode(into: &out)
        } else {
            out.append(0)
        }
        out.appendVarint(now)
        out.appendVarint(UInt64(bitPattern: wall))
        out.appendString(bootID)
        out.appendOptional(startedAt)
        out.append(role.rawValue)
        out.appendVarint(roleSince)
        out.appendVarint(epoch)
        out.appendVarint(highestEpoch)
        out.appendFlags(adminStandby, maintenance, yields)
        out.appendVarint(UInt64(channels.count))
        for channel in channels {
            out.appendFlags(channel.up)
            out.appendOptional(channel.lastHeard)
            out.appendVarint(channel.lastSequence)
        }
        out.appendFlags(peerDead, peerSuspected)
        peerView.encode(into: &out)
        out.appendOptional(peerViewAt)
        peerSlot.encode(into: &out)
        out.appendOptional(peerSlotAt)
        out.appendOptional(peerCounter)
        out.appendOptional(peerCounterChangedAt)
        out.appendOptional(peerDiskOnlyLeaseUntil)
        out.appendFlags(diskReadable)
        out.appendOptional(peerHealthySince)
        out.appendOptional(lastRenewal)
        out.appendOptional(lastDiskOnlyRenewal)
        out.appendFlags(ownSlotWritable)
        out.append(arbitratorReachable.map { $0 ? 2 : 1 } ?? 0)
        out.appendVarint(UInt64(resources.count))
        for status in resources { out.append(status.rawValue) }
        out.appendOptional(restartFloor.map { UInt64($0) })
        out.appendVarint(UInt64(restartTimes.count))
        for times in restartTimes {
            out.appendVarint(UInt64(times.count))
            for t in times { out.appendVarint(t) }
        }
        out.appendFlags(stuck)
        out.appendVarint(UInt64(killFailed.count))
        for failed in killFailed { out.appendFlags(failed) }
        out.appendOptional(unhealthyUntil)
        out.appendFlags(fencePending, peerFenced)
        out.appendVarint(UInt64(fenceFailures))
        out.appendOptional(fenceRetryAt)
        out.appendVarint(UInt64(stopAttempted.count))
        for attempted in stopAttempted { out.appendFlags(attempted) }
        out.appendOptional(claimWrittenAt)
        out.appendOptional(claimPeerCounter)
        out.appendOptional(contendedUntil)
        out.appendFlags(releaseWriteIssued)
        out.appendVarint(UInt64(alarms.count))
        for alarm in alarms { alarm.encode(into: &out) }
        out.appendVarint(UInt64(pendingNotices.count))
        for notice in pendingNotices {
            notice.alarm.encode(into: &out)
            out.appendFlags(notice.raised)
            out.appendVarint(notice.delivered)
        }
        out.appendVarint(UInt64(inputsRecorded))
        out.appendOptional(armedTimer)
        if let lastFailover {
            out.append(1)
            out.appendVarint(lastFailover.at)
            out.appendVarint(UInt64(bitPattern: lastFailover.wall))
            out.append(lastFailover.kind.rawValue)
            out.appendVarint(lastFailover.epoch)
            out.appendString(lastFailover.reason)
        } else {
            out.append(0)
        }
        out.appendVarint(UInt64(takeovers))
        out.appendVarint(UInt64(recentAcquisitions.count))
        for at in recentAcquisitions { out.appendVarint(at) }
        return out.bytes
    }

    public func digest() -> [UInt8] { Array(SHA256.hash(data: canonicalEncoding())) }
}

extension Alarm {
    func encode<Writer: CanonicalWriter>(into out: inout Writer) {
        out.append(kind.rawValue)
        out.append(severity.rawValue)
        out.appendString(message)
        out.appendVarint(epoch)
    }
}

extension CanonicalWriter {
    /// An optional value: a presence byte, then the value.
    mutating func appendOptional(_ value: UInt64?) {
        if let value {
            append(1)
            appendVarint(value)
        } else {
            append(0)
        }
    }

    /// Up to eight flags in one byte, the first in bit 0.
    mutating func appendFlags(_ flags: Bool...) {
        var byte: UInt8 = 0
        for (bit, flag) in flags.enumerated() where flag { byte |= 1 << UInt8(bit) }
        append(byte)
    }
}
