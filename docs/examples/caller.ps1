# Get a token from systemuser-agent with Invoke-RestMethod, then introspect it.
# Usage: .\caller.ps1 -TokenUrl http://127.0.0.1:7070/oauth2/token -ClientId sap -SecretFile C:\ProgramData\systemuser-agent-clients\sap.secret
# Windows PowerShell 5.1 and PowerShell 7.
param(
    [Parameter(Mandatory)] [string] $TokenUrl,
    [Parameter(Mandatory)] [string] $ClientId,
    [Parameter(Mandatory)] [string] $SecretFile
)
$ErrorActionPreference = 'Stop'

$secret = (Get-Content -Raw -LiteralPath $SecretFile).Trim()
# client_secret_basic: id and secret form-encoded, joined by ':', base64 (RFC 6749 section 2.3.1).
$pair = [Uri]::EscapeDataString($ClientId) + ':' + [Uri]::EscapeDataString($secret)
$headers = @{ Authorization = 'Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($pair)) }
$common = @{ Method = 'Post'; Headers = $headers; ContentType = 'application/x-www-form-urlencoded' }
if ($PSVersionTable.PSVersion.Major -ge 7) { $common.NoProxy = $true }   # straight to loopback

$token = Invoke-RestMethod @common -Uri $TokenUrl -Body @{ grant_type = 'client_credentials' }
"got a token for $($token.expires_in) s"

# Use it: Invoke-RestMethod -Uri https://api.example/... -Headers @{ Authorization = "Bearer $($token.access_token)" }
# Ask the agent what the token is (RFC 7662).
$introspect = $TokenUrl -replace '/token$', '/introspect'
$info = Invoke-RestMethod @common -Uri $introspect -Body @{ token = $token.access_token }
$info | ConvertTo-Json -Compress
