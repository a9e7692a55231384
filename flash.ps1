#Requires -Version 7.0
<#
.SYNOPSIS
    Flashes an ESP32 with the nanoFramework runtime and the IotWs firmware, and uploads its config.

.DESCRIPTION
    Runs these steps in order; each one can be skipped, and -WhatIf prints them all without
    touching the board:

      1. install nanoff (dotnet tool install -g nanoff) if it is missing
      2. flash the nanoFramework runtime     (nanoff --platform esp32 --serialport PORT --update)
      3. build the application in Release    (nuget restore + msbuild of IotWs.Firmware.nfproj)
      4. deploy the application image        (nanoff --target TARGET --serialport PORT --deploy --image …bin)
      5. write config.json to a temporary file and upload it to I:\config.json
                                             (nanoff --filedeployment deploy.json)
      6. reset the board                     (nanoff --platform esp32 --serialport PORT --reset)

    Before step 1 every input is checked (gateway URLs, TLS certificate, tokens file, device id, SSID), so a mistake
    stops the script with one line on stderr and exit code 1 before the board is touched.

    The WiFi password and the device token only ever go into the temporary config file, which is
    deleted afterwards; they are never printed, logged or written into the repository.

.PARAMETER SerialPort
    Serial port of the board: COM5 on Windows, /dev/ttyUSB0 on Linux, /dev/cu.usbserial-… on macOS.
    `nanoff --listports` lists them.

.PARAMETER GatewayUrl
    The gateway's WebSocket endpoint, e.g. ws://192.168.1.50:5080/ws; or several, comma-separated, for
    a cluster: the board starts with the first and moves to the next one when a connect fails or the
    link closes with 1001, 1006 or 1013. Written as gatewayUrls (and gatewayUrl, the first one, which
    older firmware reads).

.PARAMETER TlsCertificate
    The gateway's certificate file (PEM), for wss:// gateway URLs: tls/gateway.crt in the gateway's data
    directory, made by `IotWs.Gateway certs create` (`certs show` prints its path and fingerprint). Its
    text goes into config.json as tlsCertificate, and the board then accepts no other certificate.
    Required with wss:// URLs and refused with ws:// ones: the board never falls back to plain ws://.
    Output shows its SHA-256 fingerprint (compare it with what `certs create` printed), not its text.

.PARAMETER TokensFile
    JSON lines as printed by `IotWs.Gateway devices add` / `devices import`:
    {"deviceId":"…","token":"…"}. Default: devices.jsonl in the current directory.

.PARAMETER DeviceId
    Which line of the tokens file to use. May be omitted when the file holds a single device.

.PARAMETER WifiSsid
    WiFi network name. Default: the IOTWS_WIFI_SSID environment variable.

.PARAMETER WifiPassword
    WiFi password as a SecureString. Default: the IOTWS_WIFI_PASSWORD environment variable;
    otherwise you are prompted (without echo).

.PARAMETER Target
    nanoFramework firmware target for the deploy step. Default ESP32_REV0 (plain ESP32 DevKit).

.PARAMETER WriteConfig
    Only writes the config.json the upload step would send to this path, and does nothing else (no
    nanoff, no board, no -SerialPort needed). The file holds the WiFi password and the token: keep it
    out of the repository (firmware/**/config.json is git-ignored).

.EXAMPLE
    ./flash.ps1 -SerialPort COM5 -GatewayUrl ws://192.168.1.50:5080/ws -DeviceId esp32-kitchen -WifiSsid home -WhatIf

    Prints every step without running any of them.

.EXAMPLE
    $env:IOTWS_WIFI_SSID = 'home'; $env:IOTWS_WIFI_PASSWORD = '…'
    ./flash.ps1 -SerialPort /dev/ttyUSB0 -GatewayUrl ws://pi.local:5080/ws -TokensFile ./devices.jsonl -DeviceId esp32-kitchen

.EXAMPLE
    ./flash.ps1 -SerialPort COM5 -GatewayUrl ws://pi.local:5080/ws -DeviceId esp32-attic -SkipRuntime -SkipBuild

    Re-deploys a board that already runs nanoFramework, with an existing Release build.

.EXAMPLE
    ./flash.ps1 -SerialPort COM5 -GatewayUrl ws://pi-a.local:5080/ws,ws://pi-b.local:5080/ws -DeviceId esp32-attic

    A board of a cluster: it fails over between the two gateways.

.EXAMPLE
    ./flash.ps1 -SerialPort COM5 -GatewayUrl wss://pi.local:5443/ws -TlsCertificate ./data/tls/gateway.crt -DeviceId esp32-attic

    Over TLS: the board pins the gateway's certificate (copy gateway.crt from the gateway's data directory).
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [string] $SerialPort,
    [Parameter(Mandatory)] [string[]] $GatewayUrl,
    [string] $TlsCertificate,
    [string] $TokensFile = 'devices.jsonl',
    [string] $DeviceId,
    [string] $WifiSsid = $env:IOTWS_WIFI_SSID,
    [securestring] $WifiPassword,
    [string] $Location,
    [ValidateRange(2000, 3600000)] [int] $ReadingIntervalMs = 2000,
    [ValidateRange(5000, 600000)] [int] $HeartbeatIntervalMs = 30000,
    [int] $DhtEchoPin = 12,
    [int] $DhtTriggerPin = 14,
    [int] $LedPin = 2,
    [string] $Target = 'ESP32_REV0',
    [switch] $SkipRuntime,
    [switch] $SkipBuild,
    [switch] $SkipDeploy,
    [switch] $SkipConfig,
    [string] $WriteConfig
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
# One plain line per error, without PowerShell's wrapped error view: what is wrong and what to do.
trap { [Console]::Error.WriteLine("flash.ps1: $($_.Exception.Message)"); exit 1 }

# The same rules as the firmware's own config parser (DeviceSettings.FromConfig): checked before any step runs.
$gatewayUrls = @($GatewayUrl | ForEach-Object { $_ -split ',' } | ForEach-Object { $_.Trim() } | Where-Object { $_ })
if ($gatewayUrls.Count -eq 0) { throw 'GatewayUrl is empty: pass the gateway''s ws:// or wss:// address, e.g. ws://192.168.1.50:5080/ws' }
if ($gatewayUrls.Count -gt 8) { throw "GatewayUrl lists $($gatewayUrls.Count) gateways; the firmware takes at most 8" }
foreach ($url in $gatewayUrls) {
    $parsed = $null
    if (-not [Uri]::TryCreate($url, [UriKind]::Absolute, [ref] $parsed) -or $parsed.Scheme -notin 'ws', 'wss' -or -not $parsed.Host) {
        throw "GatewayUrl '$url' is not a ws:// or wss:// URL (e.g. ws://192.168.1.50:5080/ws)"
    }
}

# tlsCertificate and wss:// go together, as in the firmware's parser: one PEM certificate (never the key),
# required by wss:// URLs and refused next to ws:// ones.
$certificatePem = $null
$certificateShown = $null
if ($TlsCertificate) {
    if (-not (Test-Path -LiteralPath $TlsCertificate -PathType Leaf)) {
        throw "TlsCertificate file $TlsCertificate not found: pass the gateway's tls/gateway.crt (IotWs.Gateway certs create makes it, certs show prints its path)"
    }
    $text = [System.IO.File]::ReadAllText([System.IO.Path]::GetFullPath($TlsCertificate, (Get-Location).Path))
    if ($text -match 'PRIVATE KEY') { throw "TlsCertificate $TlsCertificate is a private key: pass the certificate (gateway.crt), never the key" }
    $blocks = [regex]::Matches($text, '-----BEGIN CERTIFICATE-----').Count
    $certificate = $null
    if ($blocks -eq 1) {
        try { $certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPem($text) } catch { $certificate = $null }
    }
    if (-not $certificate) {
        throw "TlsCertificate $TlsCertificate is not one PEM certificate (-----BEGIN CERTIFICATE----- …): pass the gateway's tls/gateway.crt"
    }
    $sha256 = [System.Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($certificate.RawData)) -replace '(..)(?!$)', '$1:'
    $certificate.Dispose()
    # As the firmware keeps it: trimmed, '\n' line ends.
    $certificatePem = ($text.Trim() -replace "`r`n", "`n") + "`n"
    $certificateShown = "$([System.IO.Path]::GetFileName($TlsCertificate)) (SHA-256 $sha256)"
}
foreach ($url in $gatewayUrls) {
    $tls = $url.StartsWith('wss://', [StringComparison]::OrdinalIgnoreCase)
    if ($tls -and -not $certificatePem) {
        throw "GatewayUrl '$url' is wss:// and needs -TlsCertificate: the gateway's tls/gateway.crt (from IotWs.Gateway certs create), which the board pins"
    }
    if (-not $tls -and $certificatePem) {
        throw "-TlsCertificate is given, so every GatewayUrl must be wss:// ('$url' is not): the board does not fall back to plain ws://"
    }
}
if (-not $WriteConfig -and -not $SerialPort) { throw 'SerialPort missing: pass -SerialPort (nanoff --listports lists them), or -WriteConfig <path> to only write config.json' }

$project = Join-Path $PSScriptRoot 'firmware/IotWs.Firmware/IotWs.Firmware.nfproj'
$image = Join-Path $PSScriptRoot 'firmware/IotWs.Firmware/bin/Release/IotWs.Firmware.bin'

# Runs a native tool and stops on a non-zero exit code. Command lines never carry secrets.
function Invoke-Tool([string] $Tool, [string[]] $Arguments) {
    & $Tool @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Tool $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Step([string] $What, [string] $Tool, [string[]] $Arguments) {
    if ($PSCmdlet.ShouldProcess("$Tool $($Arguments -join ' ')", $What)) { Invoke-Tool $Tool $Arguments }
}

# Everything the config needs is resolved before any step runs, so a wrong tokens file or a missing
# SSID stops the script before the board is touched.
$config = $null
if ($WriteConfig -or -not $SkipConfig) {
    $whatIf = $WhatIfPreference -and -not $WriteConfig
    if (-not $WifiSsid) { throw 'WiFi SSID missing: pass -WifiSsid or set IOTWS_WIFI_SSID' }

    $device = $null
    if (Test-Path $TokensFile) {
        $devices = @(Get-Content $TokensFile | Where-Object { $_.Trim() } | ForEach-Object {
            try { $_ | ConvertFrom-Json } catch { throw "Tokens file $TokensFile has a line that is not JSON; each line is {`"deviceId`":…,`"token`":…} as printed by IotWs.Gateway devices add" }
        })
        $ids = @($devices | ForEach-Object { $_.deviceId })
        if ($DeviceId) {
            $device = $devices | Where-Object deviceId -EQ $DeviceId | Select-Object -First 1
            if (-not $device) { throw "No device '$DeviceId' in $TokensFile; it lists: $($ids -join ', ')" }
        }
        elseif ($devices.Count -eq 1) { $device = $devices[0] }
        elseif ($devices.Count -eq 0) { throw "Tokens file $TokensFile lists no device (create one with: IotWs.Gateway devices add <deviceId>)" }
        else { throw "Tokens file $TokensFile lists $($devices.Count) devices ($($ids -join ', ')): pass -DeviceId to say which board this is" }
        if (-not $device.token) { throw "Tokens file $TokensFile has no token for device '$($device.deviceId)'" }
    }
    elseif (-not $whatIf) { throw "Tokens file $TokensFile not found (create it with: IotWs.Gateway devices add <deviceId>)" }
    elseif (-not $DeviceId) { throw "Device id missing: pass -DeviceId, or -TokensFile with the line of this board" }

    $password = if ($WifiPassword) { ConvertFrom-SecureString -SecureString $WifiPassword -AsPlainText }
                elseif ($env:IOTWS_WIFI_PASSWORD) { $env:IOTWS_WIFI_PASSWORD }
                elseif (-not $whatIf) { ConvertFrom-SecureString -SecureString (Read-Host -AsSecureString "WiFi password for $WifiSsid") -AsPlainText }
                else { '' }

    $config = [ordered]@{
        wifiSsid            = $WifiSsid
        wifiPassword        = $password
        gatewayUrl          = $gatewayUrls[0]
        gatewayUrls         = $gatewayUrls
        deviceId            = if ($device) { $device.deviceId } else { $DeviceId }
        token               = if ($device) { $device.token } else { '' }
        readingIntervalMs   = $ReadingIntervalMs
        heartbeatIntervalMs = $HeartbeatIntervalMs
        dhtEchoPin          = $DhtEchoPin
        dhtTriggerPin       = $DhtTriggerPin
        ledPin              = $LedPin
    }
    if ($Location) { $config.location = $Location }
    if ($certificatePem) { $config.tlsCertificate = $certificatePem }
}

if ($WriteConfig) {
    # Raw UTF-8 without BOM and without \u escapes: nanoFramework.Json mis-decodes those.
    $json = $config | ConvertTo-Json -EscapeHandling Default
    [System.IO.File]::WriteAllText([System.IO.Path]::GetFullPath($WriteConfig, (Get-Location).Path), $json, [System.Text.UTF8Encoding]::new($false))
    Write-Host "config.json for $($config.deviceId) written to $WriteConfig (it holds secrets: keep it out of the repository)"
    return
}

# 1. nanoff
if (-not (Get-Command nanoff -ErrorAction SilentlyContinue)) {
    Step 'Install nanoff' 'dotnet' @('tool', 'install', '-g', 'nanoff')
}

# 2. runtime
if (-not $SkipRuntime) {
    Step 'Flash the nanoFramework runtime' 'nanoff' @('--platform', 'esp32', '--serialport', $SerialPort, '--update')
}

# 3. build (Visual Studio's MSBuild with the nanoFramework extension; see firmware/README.md)
if (-not $SkipBuild) {
    $msbuild = 'msbuild'
    if ($IsWindows) {
        $vswhere = Join-Path ${env:ProgramFiles(x86)} 'Microsoft Visual Studio/Installer/vswhere.exe'
        if (Test-Path $vswhere) {
            $found = & $vswhere -latest -requires Microsoft.Component.MSBuild -find 'MSBuild/**/Bin/MSBuild.exe' | Select-Object -First 1
            if ($found) { $msbuild = $found }
        }
    }
    Step 'Restore NuGet packages' 'nuget' @('restore', (Join-Path $PSScriptRoot 'firmware/IotWs.Firmware/packages.config'), '-PackagesDirectory', (Join-Path $PSScriptRoot 'packages'))
    Step 'Build the firmware (Release)' $msbuild @($project, '/p:Configuration=Release', '/nologo', '/v:minimal')
}

# 4. application image
if (-not $SkipDeploy) {
    Step 'Deploy the application' 'nanoff' @('--target', $Target, '--serialport', $SerialPort, '--deploy', '--image', $image)
}

# 5. config.json
if ($config) {
    # Raw UTF-8 without BOM and without \u escapes: nanoFramework.Json mis-decodes those.
    $json = $config | ConvertTo-Json -EscapeHandling Default
    $utf8 = [System.Text.UTF8Encoding]::new($false)
    # What the board gets, secrets masked.
    $shown = (@(foreach ($key in $config.Keys) {
        $value = if ($key -in 'wifiPassword', 'token') { '***' }
                 elseif ($key -eq 'gatewayUrls') { $config[$key] -join ',' }
                 elseif ($key -eq 'tlsCertificate') { $certificateShown }
                 else { $config[$key] }
        "$key=$value"
    }) -join ', ')
    if ($PSCmdlet.ShouldProcess("I:\config.json on $SerialPort ($shown)", 'Upload config.json')) {
        $configFile = New-TemporaryFile
        $deployFile = New-TemporaryFile
        try {
            [System.IO.File]::WriteAllText($configFile.FullName, $json, $utf8)
            $deploy = @{ serialport = $SerialPort; files = @(@{ DestinationFilePath = 'I:\config.json'; SourceFilePath = $configFile.FullName }) }
            [System.IO.File]::WriteAllText($deployFile.FullName, ($deploy | ConvertTo-Json -Depth 4), $utf8)
            Invoke-Tool 'nanoff' @('--filedeployment', $deployFile.FullName)
        }
        finally {
            Remove-Item $configFile, $deployFile -Force -ErrorAction SilentlyContinue
        }
    }
}

# 6. reset
Step 'Reset the board' 'nanoff' @('--platform', 'esp32', '--serialport', $SerialPort, '--reset')
