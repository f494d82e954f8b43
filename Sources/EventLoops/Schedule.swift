import ChatCore
import NIOCore
import NIOPosix

/// The production ``Schedule``: runs `body` after `delay` on one of the shared event loops unless the
/// returned cancel runs first. Timers on an event loop cost no task and no thread of their own; the
/// stores' batchers, the job runner and the connections' deadlines all use this one.
public let eventLoopSchedule: Schedule = { delay, body in
    let task = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(delay), body)
    return { task.cancel() }
}
