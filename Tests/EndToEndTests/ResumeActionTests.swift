import Foundation
@testable import NodeBootstrap
import Synchronization
import Testing

/// ``ResumeAction`` runs the same closure however often it runs: the call does not grow (the job
/// runner's wake-up runs once per job scheduled, for the node's whole life).
@Suite struct ResumeActionTests {
    @Test func runningItOftenAddsNoFrameToTheCall() {
        let action = ResumeAction()
        let depths = Mutex<[Int]>([])
        action.set { depths.withLock { $0.append(Thread.callStackSymbols.count) } }
        for _ in 0..<1_000 { action.run() }
        let seen = depths.withLock { $0 }
        #expect(seen.count == 1_000)
        #expect(Set(seen).count == 1, "the same depth every time: \(Set(seen).sorted())")
    }
}
