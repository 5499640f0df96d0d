// Get a token from systemuser-agent with HttpClient, then introspect it.
// Usage: dotnet run -- TOKEN_URL CLIENT_ID SECRET_FILE
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

var (tokenUrl, clientId, secretFile) = (args[0], args[1], args[2]);
var secret = File.ReadAllText(secretFile).Trim();
// client_secret_basic: id and secret form-encoded, joined by ':', base64 (RFC 6749 section 2.3.1).
var basic = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(
    Encoding.UTF8.GetBytes(Uri.EscapeDataString(clientId) + ":" + Uri.EscapeDataString(secret))));
using var http = new HttpClient(new HttpClientHandler { UseProxy = false }); // straight to loopback

HttpResponseMessage reply = null!;
for (var attempt = 0; attempt < 3; attempt++)
{
    reply = await http.SendAsync(Post(tokenUrl, new() { ["grant_type"] = "client_credentials" }));
    if (reply.StatusCode != HttpStatusCode.ServiceUnavailable) break;
    // Maskinporten unreachable: wait as long as the agent says.
    await Task.Delay(reply.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(5));
}
reply.EnsureSuccessStatusCode();
using var token = JsonDocument.Parse(await reply.Content.ReadAsStringAsync());
var accessToken = token.RootElement.GetProperty("access_token").GetString()!;
Console.WriteLine($"got a token for {token.RootElement.GetProperty("expires_in").GetInt64()} s");

// Use it: request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
// Ask the agent what the token is (RFC 7662).
var introspect = tokenUrl[..tokenUrl.LastIndexOf('/')] + "/introspect";
var info = await http.SendAsync(Post(introspect, new() { ["token"] = accessToken }));
info.EnsureSuccessStatusCode();
Console.WriteLine((await info.Content.ReadAsStringAsync()).Trim());

HttpRequestMessage Post(string url, Dictionary<string, string> form) =>
    new(HttpMethod.Post, url) { Content = new FormUrlEncodedContent(form), Headers = { Authorization = basic } };
