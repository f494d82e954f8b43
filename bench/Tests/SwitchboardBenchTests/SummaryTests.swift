import Testing

@testable import SwitchboardBench

/// Many runs summed up by step: how many reached and passed each step, the p99's spread, the
/// deployment's CPU per delivery; saturations counted together when they are the same step's.
@Suite struct SummaryTests {
    typealias Figures = RunSummary.StepFigures

    static func step(_ rate: Double, p99: Double, clean: Bool = true, cores: Double? = 1) -> Figures {
        Figures(messagesPerSecond: rate, deliveriesPerSecond: rate * 200, clean: clean, p99Milliseconds: p99, serverCores: cores)
    }

    @Test func stepsLineUpAcrossRunsThatStoppedAtDifferentPlaces() {
        let runs = [
            RunSummary.Run(steps: [Self.step(100, p99: 5), Self.step(150, p99: 12), Self.step(225, p99: 25, clean: false)], saturation: 30_010),
            RunSummary.Run(steps: [Self.step(100, p99: 7), Self.step(150, p99: 21, clean: false)], saturation: 20_000),
            RunSummary.Run(steps: [Self.step(100, p99: 6), Self.step(150, p99: 15), Self.step(225, p99: 18)], saturation: 45_000),
        ]
        let summary = RunSummary(runs)
        #expect(summary.runs == 3)
        #expect(summary.steps.map(\.reached) == [3, 3, 2])
        #expect(summary.steps.map(\.clean) == [3, 2, 1])
        #expect(summary.steps[1].p99 == RunSummary.Spread([12, 21, 15]))
        #expect(summary.steps[1].p99.median == 15 && summary.steps[2].p99.median == 21.5, "the middle value, or the mean of the two middle ones")
        #expect(summary.steps[0].serverMicrosecondsPerDelivery == 50, "1 core over 20,000 deliveries/s")
        #expect(summary.saturations == [20_000, 30_010, 45_000])
    }

    @Test func withoutMeasuredServersThereIsNoCPUFigure() {
        let summary = RunSummary([RunSummary.Run(steps: [Self.step(10, p99: 3, cores: nil)], saturation: nil)])
        #expect(summary.steps.first?.serverMicrosecondsPerDelivery == nil)
        #expect(summary.table().contains("| 3/3/3 | -"))
        #expect(!summary.table().contains("saturation"), "not a ramp")
    }

    @Test func saturationsOfOneStepAreCountedTogether() {
        let summary = RunSummary([51_196, 51_214, 22_761, 51_192, nil].map { RunSummary.Run(steps: [], saturation: $0) })
        #expect(summary.table().contains("saturation (deliveries/s: runs) 22800: 1, 51200: 3, none clean: 1"))
    }
}
