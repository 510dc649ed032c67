// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "HemoCluster",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hemo", targets: ["hemo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries, private, one thin module each.
        .systemLibrary(name: "CNIfTI", path: "Sources/CNIfTI"),
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ", pkgConfig: "libzmq"),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib"),

        // Pure Swift core: volumes, geometry, masks, boxes, subtypes.
        .target(name: "HemoCore"),

        .executableTarget(
            name: "hemo",
            dependencies: [
                "HemoCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "HemoCoreTests", dependencies: ["HemoCore"]),
    ]
)
