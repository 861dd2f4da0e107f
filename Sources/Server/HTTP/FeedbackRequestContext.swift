import Hummingbird
import NIOCore

/// Hummingbird's request context plus the connection, so that handlers can read the TLS
/// client certificate the kiosk presented.
public struct FeedbackRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
