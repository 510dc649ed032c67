import Testing
@testable import NIfTI
