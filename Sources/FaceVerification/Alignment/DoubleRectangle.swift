/// A rectangle with real-valued, inclusive corners, as dlib's `drectangle`: its width is
/// right − left + 1.
struct DoubleRectangle: Equatable {
    var left: Double
    var top: Double
    var right: Double
    var bottom: Double

    var area: Double {
        guard right >= left, bottom >= top else { return 0 }
        return (right - left + 1) * (bottom - top + 1)
    }

    var center: (x: Double, y: Double) { ((left + right) / 2, (top + bottom) / 2) }

    /// Maps both corners to the next level of a 2:1 image pyramid, (x/2 − 1.25, y/2 − 0.75).
    var halved: DoubleRectangle {
        .init(left: left / 2 - 1.25, top: top / 2 - 0.75, right: right / 2 - 1.25, bottom: bottom / 2 - 0.75)
    }

    func translated(by dx: Double, _ dy: Double) -> DoubleRectangle {
        .init(left: left + dx, top: top + dy, right: right + dx, bottom: bottom + dy)
    }

    func intersection(_ other: DoubleRectangle) -> DoubleRectangle {
        .init(left: max(left, other.left), top: max(top, other.top),
              right: min(right, other.right), bottom: min(bottom, other.bottom))
    }
}

/// Rotates `point` by `angle` radians about `center`.
func rotate(_ point: (x: Double, y: Double), about center: (x: Double, y: Double), by angle: Double) -> (x: Double, y: Double) {
    let (sin, cos) = (_sin(angle), _cos(angle))
    let dx = point.x - center.x
    let dy = point.y - center.y
    return (cos * dx - sin * dy + center.x, sin * dx + cos * dy + center.y)
}
