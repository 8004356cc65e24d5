import NIOSSL

/// What the console needs from files before it serves: the bearer token and the TLS certificate and key, each
/// checked at start (and by `check-config`) with a one-line error naming the configuration line and the file.
public struct ConsoleCredentials: Sendable {
    public var token: String?
    public var tls: TLSConfiguration?

    public static func load(_ settings: HTTPSettings) throws(ConsoleStartError) -> ConsoleCredentials {
        var credentials = ConsoleCredentials()
        if let file = settings.tokenFile {
            func fail(_ problem: String) -> ConsoleStartError {
                ConsoleStartError("\(settings.tokenFileLocation): http.token_file: \(file): \(problem)")
            }
            let token: String
            switch readOwnerOnly(path: file, limit: 4096) {
            case .success(let bytes):
                token = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            case .failure(let problem):
                throw fail(problem.description)
            }
            // A word a person can paste into a browser's prompt or a Prometheus credentials file.
            guard token.count >= 16, token.count <= 1024, token.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0.asciiValue! >= 0x21 && $0.asciiValue! < 0x7F })
            else {
                throw fail("the token must be one word of 16 to 1024 printable ASCII characters (openssl rand -base64 32 > \(file))")
            }
            credentials.token = token
        }
        if let files = settings.tls {
            let chain: [NIOSSLCertificate]
            do {
                chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
            } catch {
                throw ConsoleStartError("\(files.location): http.tls.certificate: \(files.certificate): not a readable PEM certificate (\(error))")
            }
            guard !chain.isEmpty else {
                throw ConsoleStartError("\(files.location): http.tls.certificate: \(files.certificate): holds no certificate")
            }
            let key: NIOSSLPrivateKey
            do {
                key = try NIOSSLPrivateKey(file: files.key, format: .pem)
            } catch {
                throw ConsoleStartError("\(files.location): http.tls.key: \(files.key): not a readable PEM private key (\(error))")
            }
            credentials.tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) },
                privateKey: .privateKey(key)
            )
        }
        return credentials
    }
}
