using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Vla.Server;

/// <summary>
/// Refuses, before any WebSocket upgrade, a request that does not carry the server's api key in openpi's header
/// (<c>Authorization: Api-Key KEY</c>); the key's SHA-256 is compared in constant time. <c>/healthz</c> stays open, so a
/// load balancer needs no key. Without a key every request passes.
/// </summary>
/// <param name="next">The rest of the pipeline.</param>
/// <param name="apiKey">The key, or null for none.</param>
public sealed class ApiKeyMiddleware(RequestDelegate next, string? apiKey)
{
    private readonly byte[]? _keyHash = string.IsNullOrEmpty(apiKey) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));

    /// <summary>Answers 401 to a request without the key; passes the others on.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Path != "/healthz" && !Authorized(context.Request))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsync("Missing or wrong api key: send the header 'Authorization: Api-Key KEY'.\n");
            return;
        }
        await next(context);
    }

    private bool Authorized(HttpRequest request)
    {
        if (_keyHash is null) return true;
        string header = request.Headers.Authorization.ToString();
        const string scheme = "Api-Key ";
        string given = header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : "";
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), _keyHash);
    }
}
