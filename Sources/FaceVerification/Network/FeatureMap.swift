/// A stack of 2-D float planes (channels × height × width, row-major): the value that flows
/// between the layers of both networks.
struct FeatureMap: Sendable {
    var channels: Int
    var height: Int
    var width: Int
    var values: [Float]

    init(channels: Int, height: Int, width: Int, values: [Float]) {
        precondition(values.count == channels * height * width, "feature map size mismatch")
        self.channels = channels
        self.height = height
        self.width = width
        self.values = values
    }

    init(zerosWithChannels channels: Int, height: Int, width: Int) {
        self.init(channels: channels, height: height, width: width,
                  values: [Float](repeating: 0, count: channels * height * width))
    }

    var planeSize: Int { height * width }
}
