// swift-tools-version:6.0
import PackageDescription

// The module graph: README "Architecture" (system test 39 checks that it, and every target's
// dependencies, match the imports). In short: one private C module per library, one typed Swift
// wrapper each, the pure-Swift core (HemoCore, HemoConcurrency, HemoRaster), the libraries, the
// pure state machines (HemoScheduler), and two executables: `hemo` (what users run) and
// `hemo-bench` (benchmarks and simulators behind scripts/bench/).
// HemoInference's GEMM micro-kernels need FMA: without a CPU target, Swift lowers
// `SIMD8<Float>.addingProduct` to calls of `fmaf` (measured: about 10x slower).
// Haswell (AVX2 + FMA) is the oldest x86-64 CPU the CI and the cluster machines use.
// The engine is also optimised in debug builds: unoptimised, a 256×256 slice of the default model
// takes seconds, which made every test and system test that runs a model slow.
#if arch(x86_64)
let inferenceSwiftSettings: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"]),
                                              .unsafeFlags(["-O"], .when(configuration: .debug))]
#else
let inferenceSwiftSettings: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
#endif
// HemoInferenceAVX512 holds only the GEMM's innermost AVX-512 loops; HemoInference calls them
// after checking the CPU at run time (CCPUCheck's hemo_cpu_has_avx512f), so nothing else is
// compiled for AVX-512 and the binary still runs on AVX2-only CPUs.
#if arch(x86_64)
let avx512SwiftSettings: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512"]),
                                           .unsafeFlags(["-O"], .when(configuration: .debug))]
#else
let avx512SwiftSettings: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
#endif

// The modules that compute over whole volumes (synthesis, transforms, release writing, DICOM
// decoding, evaluation, QC, the pseudo-label pipeline) are optimised in debug builds too: the
// system tests run the debug `hemo` over real cohorts, and unoptimised they spent minutes in
// `hemo synth`, `hemo eval` and the writers. Optimised code keeps every precondition and
// overflow check; only `assert` is compiled out. Scheduling, wire and cluster code stays
// unoptimised.
let volumeSwiftSettings: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "HemoCluster",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hemo", targets: ["hemo"]),
        .executable(name: "hemo-bench", targets: ["hemo-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries, private, one thin module each.
        .target(name: "CNIfTI"), // a C target, not a system library: see Sources/CNIfTI/include/CNIfTI.h
        // Refuses an x86-64 CPU without AVX2/FMA with a sentence before any Swift code runs (ELF constructor).
        .target(name: "CCPUCheck"),
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ", pkgConfig: "libzmq"),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib"),
        .systemLibrary(name: "CDeflate", path: "Sources/CDeflate", pkgConfig: "libdeflate"),
        .systemLibrary(name: "COpenJPEG", path: "Sources/COpenJPEG", pkgConfig: "libopenjp2"),
        .systemLibrary(name: "CCharLS", path: "Sources/CCharLS", pkgConfig: "charls"),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg"),
        .systemLibrary(name: "CLibCrypto", path: "Sources/CLibCrypto", pkgConfig: "libcrypto"),
        // Test-only: Debian's libpng, the independent decoder HemoQCTests checks written PNGs with.
        .systemLibrary(name: "CLibPNG", path: "Sources/CLibPNG", pkgConfig: "libpng"),

        // One typed Swift wrapper per C library; each owns its pointers and has its own error type.
        .target(name: "NIfTI", dependencies: ["CNIfTI", "Zlib", "Deflate", "HemoCore"]),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        .target(name: "LZ4", dependencies: ["CLZ4"]),
        .target(name: "Zlib", dependencies: ["CZlib"]),
        .target(name: "Deflate", dependencies: ["CDeflate"]),
        .target(name: "PNG", dependencies: ["Zlib"]),
        // DICOM: a pure-Swift data-element parser and series reader (deflate through Zlib).
        .target(name: "JPEG2000", dependencies: ["COpenJPEG"]),
        .target(name: "JPEGLS", dependencies: ["CCharLS"]),
        .target(name: "TurboJPEG", dependencies: ["CTurboJPEG"]),
        // SHA-256 of every DICOM file (provenance) with the CPU's SHA extensions.
        .target(name: "LibCrypto", dependencies: ["CLibCrypto"]),
        .target(name: "DICOM", dependencies: ["HemoConcurrency", "HemoCore", "Zlib", "JPEG2000", "JPEGLS", "TurboJPEG", "LibCrypto"], swiftSettings: volumeSwiftSettings),

        // Pure Swift core: volumes, geometry, masks, boxes, subtypes. No C import.
        .target(name: "HemoCore", swiftSettings: volumeSwiftSettings),
        // One thread-pool API and the lock box, shared by every library that runs threads.
        .target(name: "HemoConcurrency"),

        // Libraries.
        .target(name: "HemoTransforms", dependencies: ["HemoConcurrency", "HemoCore"], swiftSettings: volumeSwiftSettings),
        // Pictures: an RGB canvas, a bitmap font and the subtype palette (previews and QC montages).
        .target(name: "HemoRaster", dependencies: ["HemoCore"], swiftSettings: volumeSwiftSettings),
        .target(name: "HemoSynth", dependencies: ["HemoConcurrency", "HemoCore", "HemoRaster", "NIfTI", "PNG"], swiftSettings: volumeSwiftSettings),
        .target(
            name: "HemoInference",
            dependencies: ["CCPUCheck", "HemoConcurrency", "HemoInferenceAVX512", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Documentation.docc"],
            resources: [.copy("DefaultModel")],
            swiftSettings: inferenceSwiftSettings
        ),
        .target(name: "HemoInferenceAVX512", swiftSettings: avx512SwiftSettings),
        .target(name: "HemoRelease", dependencies: ["HemoConcurrency", "HemoCore", "HemoTransforms", "NIfTI", "PNG", "DICOM"], swiftSettings: volumeSwiftSettings),
        .target(name: "HemoWire", dependencies: ["HemoCore", "HemoScheduler", "LZ4"]),
        .target(name: "HemoScheduler", dependencies: ["HemoCore"]),
        .target(name: "HemoEval", dependencies: ["HemoConcurrency", "HemoCore", "HemoTransforms", "HemoRelease", "NIfTI"], swiftSettings: volumeSwiftSettings),
        .target(name: "HemoQC", dependencies: ["HemoConcurrency", "HemoCore", "HemoRaster", "HemoRelease", "NIfTI", "PNG"], swiftSettings: volumeSwiftSettings),
        .target(name: "HemoPseudoLabel", dependencies: ["HemoCore", "HemoInference", "HemoRelease", "HemoTransforms"],
                exclude: ["Documentation.docc"], swiftSettings: volumeSwiftSettings),
        .target(name: "HemoCluster", dependencies: ["HemoConcurrency", "HemoCore", "DICOM", "ZeroMQ", "LZ4", "HemoWire", "HemoScheduler", "HemoRelease", "HemoTransforms",
                                                    "HemoPseudoLabel"]),

        // A tiny HTTP/1.1 listener (and client) over owned TCP sockets: serves the metrics.
        .target(name: "HemoHTTP"),
        // Prometheus metrics of the coordinator and workers (the adapter; HemoHTTP serves them, --metrics-port).
        .target(name: "HemoMetrics", dependencies: ["HemoCore", "HemoCluster", "HemoRelease", "HemoScheduler", "HemoWire",
                                                    .product(name: "Prometheus", package: "swift-prometheus")]),

        // Shared test fixtures (tiny NIfTI cohorts, the hemo binary's path).
        .target(name: "HemoTestKit", dependencies: ["HemoConcurrency", "HemoCore", "NIfTI", "HemoScheduler", "HemoWire"], resources: [.copy("Fixtures")]),

        // The one executable.
        .executableTarget(
            name: "hemo",
            dependencies: [
                "HemoCore", "NIfTI", "DICOM", "HemoTransforms", "HemoSynth", "HemoInference",
                "HemoRelease", "HemoWire", "HemoScheduler", "HemoEval", "HemoQC",
                "ZeroMQ", "HemoCluster", "HemoHTTP", "HemoMetrics", "HemoPseudoLabel", "CCPUCheck",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Benchmarks and simulators, outside the product (`hemo --help` lists what users run):
        // Benchmarks and simulators behind scripts/bench/ (kept out of `hemo`, which lists what users run).
        .executableTarget(
            name: "hemo-bench",
            dependencies: [
                "DICOM", "HemoCore", "HemoRelease", "HemoTransforms", "HemoWire", "HemoScheduler", "ZeroMQ", "HemoCluster", "HemoMetrics", "CCPUCheck",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Tests.
        .testTarget(name: "HemoCoreTests", dependencies: ["HemoCore"]),
        .testTarget(name: "NIfTITests", dependencies: ["NIfTI", "HemoCore"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ZeroMQTests", dependencies: ["HemoConcurrency", "ZeroMQ", "HemoTestKit"]),
        .testTarget(name: "HemoConcurrencyTests", dependencies: ["HemoConcurrency"]),
        .testTarget(name: "LZ4Tests", dependencies: ["LZ4", "HemoCore"]),
        .testTarget(name: "DeflateTests", dependencies: ["Deflate"]),
        .testTarget(name: "HemoTransformsTests", dependencies: ["HemoTransforms", "HemoCore"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "HemoSynthTests", dependencies: ["HemoSynth", "HemoCore", "NIfTI", "PNG"]),
        .testTarget(name: "PNGTests", dependencies: ["PNG", "Zlib"]),
        .testTarget(name: "DICOMTests", dependencies: ["DICOM", "HemoCore", "NIfTI", "HemoRelease"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HemoInferenceTests", dependencies: ["HemoInference", "HemoInferenceAVX512"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HemoCLITests", dependencies: ["HemoTestKit", "hemo", "HemoCore", "NIfTI"]),
        .testTarget(name: "HemoReleaseTests", dependencies: ["HemoConcurrency", "HemoTestKit", "HemoRelease", "HemoCore", "NIfTI", "HemoSynth"]),
        .testTarget(name: "HemoWireTests", dependencies: ["HemoWire", "HemoCore", "LZ4"]),
        .testTarget(name: "HemoSchedulerTests", dependencies: ["HemoScheduler", "HemoCore", "HemoTestKit"]),
        .testTarget(name: "HemoQCTests", dependencies: ["HemoQC", "HemoRaster", "HemoSynth", "HemoCore", "HemoRelease", "NIfTI", "PNG", "CLibPNG"]),
        .testTarget(name: "HemoClusterTests", dependencies: ["HemoConcurrency", "HemoTestKit", "HemoCluster", "hemo", "HemoCore", "HemoRelease", "HemoWire", "HemoScheduler", "ZeroMQ", "LZ4", "NIfTI",
                                                          "HemoPseudoLabel"]),
        .testTarget(name: "HemoHTTPTests", dependencies: ["HemoHTTP", "HemoTestKit"]),
        .testTarget(name: "HemoMetricsTests", dependencies: ["HemoConcurrency", "HemoHTTP", "HemoMetrics", "HemoScheduler", "HemoTestKit", "HemoCluster", "HemoRelease", "HemoCore", "hemo", "hemo-bench"]),
        .testTarget(name: "HemoPseudoLabelTests", dependencies: ["HemoConcurrency", "HemoTestKit", "HemoPseudoLabel", "HemoInference", "HemoRelease", "HemoCore"]),
        .testTarget(name: "HemoEvalTests", dependencies: ["HemoEval", "HemoCore", "HemoRelease", "NIfTI"], resources: [.copy("Fixtures")]),
    ]
)
