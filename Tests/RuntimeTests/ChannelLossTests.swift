import Testing

@testable import Runtime

@Suite struct ChannelLossTests {
    @Test func lossIsMeasuredFromTheSendersSequenceNumbers() {
        // Two channels: this one carries every other sequence number (1, 3, 5, ...).
        var clean = ChannelLoss()
        #expect(clean.fraction == nil)
        for sequence in stride(from: 1 as UInt64, through: 401, by: 2) { clean.received(sequence, channels: 2) }
        #expect(clean.fraction == 0)
        var lossy = ChannelLoss()
        for (i, sequence) in stride(from: 1 as UInt64, through: 2001, by: 2).enumerated() where i % 5 != 0 {
            lossy.received(sequence, channels: 2)
        }
        let fraction = lossy.fraction ?? -1
        #expect(fraction > 0.15 && fraction < 0.25, "a fifth lost: \(fraction)")
    }
}

@Suite struct ReassertTests {
    @Test func aVIPReassertsByAnnouncingAgain() async {
        let driver = DryRunVIPDriver()
        let agent = VIPAgent(
            name: "vip",
            address: "192.0.2.100",
            prefixLength: 24,
            interface: "eth0",
            garpCount: 1,
            garpInterval: 0,
            driver: driver
        )
        _ = await agent.perform(.start, timeout: 5_000_000_000)
        let afterStart = driver.lines.filter { $0.contains("gratuitous") || $0.contains("announce") }.count
        await agent.reassert()
        let afterReassert = driver.lines.filter { $0.contains("gratuitous") || $0.contains("announce") }.count
        #expect(afterStart >= 1)
        #expect(afterReassert == afterStart + 1, "\(driver.lines)")
        // Other resources have nothing to re-assert.
        await ScriptAgent(name: "s", start: "true", stop: "true", monitor: "true").reassert()
    }
}
