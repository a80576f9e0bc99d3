package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// AzuriteVersion is the azurite npm release make tools installs into
// bin/azurite (AZURITE_VERSION in the Makefile): Microsoft's emulator of
// Azure Storage.
const AzuriteVersion = "3.37.0"

// The emulator's well-known development account and key (documented by
// Azurite; no secret).
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azuriteStartTimeout bounds node's start of the emulator on a busy
// machine.
const azuriteStartTimeout = 2 * time.Minute

// AzuritePath finds the emulator's blob service: $MQFLUX_AZURITE, then
// <module root>/bin/azurite/node_modules/.bin/azurite-blob, then
// azurite-blob on $PATH. A missing one (or a missing node) ends the test
// through Missing.
func AzuritePath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MQFLUX_AZURITE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("MQFLUX_AZURITE=%s: %v", p, err)
		}
		return p
	}
	RequireCommand(t, "node")
	if p := filepath.Join(ModuleRoot(t), "bin", "azurite", "node_modules", ".bin", "azurite-blob"); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	Missing(t, "azurite "+AzuriteVersion, "run make tools, or set MQFLUX_AZURITE to an azurite-blob")
	return ""
}

// Azurite is one running Azure Blob Storage emulator owned by a test,
// in memory, with one container.
type Azurite struct {
	// Endpoint is host:port of the blob service on 127.0.0.1.
	Endpoint  string
	Container string
	daemon
}

// StartAzurite starts azurite-blob on a free port (no telemetry, data in
// memory only), creates the container and stops the emulator when the
// test ends.
func StartAzurite(t testing.TB, container string) *Azurite {
	t.Helper()
	a := &Azurite{daemon: daemon{name: "azurite", bin: AzuritePath(t)}, Container: container}
	a.logPath = filepath.Join(t.TempDir(), "azurite.log")
	t.Cleanup(func() { _ = a.stop() })
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		port := strconv.Itoa(FreePort(t))
		a.Endpoint = "127.0.0.1:" + port
		// Unauthenticated, the account's URL answers 403: the service is up.
		err = a.launch([]string{"--blobHost", "127.0.0.1", "--blobPort", port, "--inMemoryPersistence",
			"--extentMemoryLimit", "256", "--disableTelemetry", "--skipApiVersionCheck"},
			"http://"+a.Endpoint+"/"+AzuriteAccount+"?comp=list", 403, azuriteStartTimeout)
		if err == nil {
			if err = a.createContainer(); err == nil {
				return a
			}
		}
		_ = a.stop()
	}
	t.Fatalf("azurite: %v\n--- %s ---\n%s", err, a.logPath, fileTail(a.logPath))
	return nil
}

func (a *Azurite) createContainer() error {
	cred, err := azblob.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		return err
	}
	c, err := azblob.NewClientWithSharedKeyCredential("http://"+a.Endpoint+"/"+AzuriteAccount, cred, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.CreateContainer(ctx, a.Container, nil)
	return err
}

// URL is the dump URL of prefix in the container: plain HTTP to the
// emulator on loopback, as gocloud's azureblob takes it.
func (a *Azurite) URL(prefix string) string {
	return "azblob://" + a.Container + "/" + prefix + "?localemu=true&protocol=http&domain=" + a.Endpoint
}

// Env is the environment azureblob needs for this emulator: the
// development account and its key.
func (a *Azurite) Env() []string {
	return []string{"AZURE_STORAGE_ACCOUNT=" + AzuriteAccount, "AZURE_STORAGE_KEY=" + AzuriteKey}
}
