# The Windows service's whole life against `agent sandbox`, on a real Windows (the GitHub workflow
# .github/workflows/windows.yml; or by hand from an elevated PowerShell 7 in the repository):
# build → setup --non-interactive (service installed and started, key generated in the service account's
# Credential Manager vault through the hand-over pipe) → approve the request in the sandbox → a caller
# gets a token (PowerShell and C# examples) → the Event Log holds the start and no secret → stop →
# uninstall. It stops at the first failure.
#Requires -RunAsAdministrator
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$repo = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
$bin = Join-Path $env:ProgramFiles 'systemuser-agent'
$exe = Join-Path $bin 'systemuser-agent.exe'
$cfg = Join-Path $env:ProgramData 'systemuser-agent\config.yaml'
$sandbox = 'http://127.0.0.1:8900'
$listen = '127.0.0.1:7070'
$org = '314250052'
$callerSecret = Join-Path $env:ProgramData 'systemuser-agent-clients\e2e.secret'

function Step($what) { Write-Host "=== $what" }
function Agent { & $exe @args; if ($LASTEXITCODE -ne 0) { throw "agent $($args -join ' ') exited $LASTEXITCODE" } }

Step 'build into Program Files (only Administrators may change it; install checks that)'
New-Item -ItemType Directory -Force -Path $bin | Out-Null
Push-Location $repo
go build -o $exe ./cmd/agent
if ($LASTEXITCODE -ne 0) { throw 'go build failed' }
Pop-Location
Agent demo --once --json | Out-Null

Step 'start the sandbox'
$sb = Start-Process -FilePath $exe -ArgumentList 'sandbox', '--listen', '127.0.0.1:8900' -PassThru -WindowStyle Hidden
try {
    for ($i = 0; $i -lt 50; $i++) {
        try { Invoke-RestMethod "$sandbox/maskinporten/.well-known/oauth-authorization-server" | Out-Null; break } catch { Start-Sleep -Milliseconds 200 }
    }

    Step 'setup --non-interactive: service first, then the key through the hand-over, then the request'
    $setup = @('setup', '--non-interactive', '--config', $cfg, '--environment', 'sandbox', '--sandbox-url', $sandbox,
        '--org', $org, '--key', 'generate', '--key-backend', 'keyring', '--listen', $listen,
        '--system-user', 'name=default scopes=altinn:demo/read',
        '--caller', "id=e2e os-user=$env:USERNAME secret-file=$callerSecret")
    $out = & $exe @setup --no-wait 2>&1 | Out-String
    Write-Host $out
    if ($LASTEXITCODE -ne 3) { throw "setup --no-wait exited $LASTEXITCODE, want 3 (waiting for approval)" }

    Step 'approve the request as the organisation administrator would (the sandbox confirm page)'
    $urls = [regex]::Matches($out, 'http://127\.0\.0\.1:8900/am/accessmanagement/ui/systemuser/request\?id=[A-Za-z0-9-]+') | ForEach-Object Value | Select-Object -Unique
    if (-not $urls) { throw 'setup printed no confirm URL' }
    foreach ($u in $urls) {
        $page = Invoke-WebRequest -Uri $u -UseBasicParsing
        $id = [regex]::Match($page.Content, 'name="id" value="([^"]+)"').Groups[1].Value
        $csrf = [regex]::Match($page.Content, 'name="csrf" value="([^"]+)"').Groups[1].Value
        Invoke-WebRequest -Uri "$sandbox/am/accessmanagement/ui/systemuser/request" -Method Post -UseBasicParsing `
            -Body @{ id = $id; csrf = $csrf; action = 'approve' } | Out-Null
    }

    Step 'setup again: it finishes (first token, callers, service running)'
    Agent @setup

    Step 'the service runs as NT SERVICE\systemuser-agent'
    $svc = Get-CimInstance Win32_Service -Filter "Name='systemuser-agent'"
    if ($svc.State -ne 'Running') { throw "service state $($svc.State)" }
    if ($svc.StartName -ne 'NT SERVICE\systemuser-agent') { throw "service account $($svc.StartName)" }

    Step 'callers get tokens: the PowerShell and C# examples'
    & (Join-Path $repo 'docs\examples\caller.ps1') -TokenUrl "http://$listen/oauth2/token" -ClientId e2e -SecretFile $callerSecret
    dotnet run --project (Join-Path $repo 'docs\examples\csharp') -- "http://$listen/oauth2/token" e2e $callerSecret
    if ($LASTEXITCODE -ne 0) { throw 'the C# example failed' }

    Step 'the Event Log: the start is there, no secret is'
    $events = Get-WinEvent -LogName Application -ProviderName systemuser-agent -MaxEvents 50
    if (-not ($events | Where-Object Message -like '*serving tokens*')) { throw 'no "serving tokens" event' }
    $secret = (Get-Content -Raw -LiteralPath $callerSecret).Trim()
    if ($events | Where-Object { $_.Message -like "*$secret*" }) { throw 'a caller secret is in the Event Log' }

    Step 'stop and uninstall; config, state and key stay'
    Agent service stop
    if ((Get-Service systemuser-agent).Status -ne 'Stopped') { throw 'service did not stop' }
    Agent service uninstall
    if (Get-Service systemuser-agent -ErrorAction SilentlyContinue) { throw 'service still installed' }
    if (-not (Test-Path $cfg)) { throw 'uninstall removed the config' }
    Write-Host 'OK'
}
finally {
    Stop-Process -Id $sb.Id -Force -ErrorAction SilentlyContinue
}
