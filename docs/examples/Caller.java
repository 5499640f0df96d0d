// Get a token from systemuser-agent with java.net.http (Java 11+), then introspect it.
// Usage: java Caller.java TOKEN_URL CLIENT_ID SECRET_FILE     (Java 17 runs a single source file as is)
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Caller {
    public static void main(String[] args) throws Exception {
        String tokenUrl = args[0], clientId = args[1];
        String secret = Files.readString(Path.of(args[2])).strip();
        // client_secret_basic: id and secret form-encoded, joined by ':', base64 (RFC 6749 §2.3.1).
        String basic = "Basic " + Base64.getEncoder().encodeToString(
                (form(clientId) + ":" + form(secret)).getBytes(StandardCharsets.UTF_8));
        HttpClient http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)   // plain HTTP/1.1 on loopback
                .proxy(HttpClient.Builder.NO_PROXY)     // never through a proxy
                .build();

        HttpResponse<String> reply = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            reply = http.send(post(tokenUrl, basic, "grant_type=client_credentials"),
                    HttpResponse.BodyHandlers.ofString());
            if (reply.statusCode() != 503) break;
            // Maskinporten unreachable: wait as long as the agent says.
            long wait = reply.headers().firstValueAsLong("Retry-After").orElse(5);
            Thread.sleep(wait * 1000);
        }
        if (reply.statusCode() != 200) {
            System.err.println("token request failed: " + reply.statusCode() + " " + reply.body());
            System.exit(1);
        }
        String token = field(reply.body(), "\"access_token\":\"([^\"]+)\"");
        System.out.println("got a token for " + field(reply.body(), "\"expires_in\":(\\d+)") + " s");

        // Use it: .header("Authorization", "Bearer " + token) on requests to the API.
        // Ask the agent what the token is (RFC 7662).
        String introspect = tokenUrl.replaceFirst("/token$", "/introspect");
        HttpResponse<String> info = http.send(post(introspect, basic, "token=" + form(token)),
                HttpResponse.BodyHandlers.ofString());
        System.out.println(info.body().strip());
    }

    static HttpRequest post(String url, String authorization, String body) {
        return HttpRequest.newBuilder(URI.create(url))
                .header("Authorization", authorization)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
    }

    static String form(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    static String field(String json, String regex) {
        Matcher m = Pattern.compile(regex).matcher(json);
        if (!m.find()) throw new IllegalStateException("no " + regex + " in the reply");
        return m.group(1);
    }
}
