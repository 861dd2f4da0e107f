import Testing
@testable import WebPages
