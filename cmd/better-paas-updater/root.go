package main

import (
	"context"
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/better-paas/updater/hooks"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/reconciler"
)

// options are the flags every command shares.
type options struct {
	configPath  string
	logLevel    string
	logEncoding string
}

func newRootCommand() *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:           "better-paas-updater",
		Short:         "Keep a Better-PaaS install at the version desired.yaml asks for",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&o.configPath, "config", "/etc/better-paas/updater.yaml", "path of updater.yaml")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info or error")
	f.StringVar(&o.logEncoding, "log-encoding", "console", "log encoding: console or json")
	root.AddCommand(newRunCommand(o), newStatusCommand(o), newSetCommand(o), newRetryCommand(o), newCheckCommand(o), newRepoCommand(o), newBackupsCommand(o), newValidateCommand())
	return root
}

// logger builds the logr logger the flags ask for, writing to stderr.
func (o *options) logger() (logr.Logger, error) {
	var level zapcore.Level
	switch o.logLevel {
	case "debug":
		level = zapcore.DebugLevel
	case "info":
		level = zapcore.InfoLevel
	case "error":
		level = zapcore.ErrorLevel
	default:
		return logr.Logger{}, fmt.Errorf("--log-level %q: use debug, info or error", o.logLevel)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	switch o.logEncoding {
	case "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console":
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return logr.Logger{}, fmt.Errorf("--log-encoding %q: use console or json", o.logEncoding)
	}
	core := zapcore.NewCore(encoder, zapcore.Lock(os.Stderr), level)
	return zapr.NewLogger(zap.New(core)), nil
}

// loadConfig reads updater.yaml.
func (o *options) loadConfig() (*config.Config, error) {
	return config.Load(o.configPath)
}

// newReconciler wires the reconciler for cfg: the embedded supervisor and
// the hooks folder.
//
// The service's command and env come expanded from config.Load:
// $(INSTALL_DIR), $(DATA_DIR) and $(STATE_DIR) are cfg's folders, so the
// app's data folder is the one backed up. $(VERSION) is refused at load:
// the supervisor is built once, before any version is known.
func newReconciler(ctx context.Context, cfg *config.Config) (*reconciler.Reconciler, error) {
	svc, err := service.NewExec(service.ExecConfig{
		Command:     cfg.Service.Exec.Command,
		Dir:         cfg.InstallDir,
		Env:         cfg.Service.Exec.Env,
		PIDFile:     cfg.StateDir + "/service.pid",
		LogFile:     cfg.StateDir + "/logs/service.log",
		StopTimeout: cfg.Service.StopTimeout.Duration,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: service: %w", cfg.Path(), err)
	}
	// Refuse to start with a hook that would never run (a typo in its
	// name): an administrator relying on it must hear about it now.
	scripts, err := hooks.Discover(cfg.HooksDir)
	if err == nil {
		err = hooks.ValidateStates(scripts, reconciler.StepNames(cfg)...)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: hooksDir: %w", cfg.Path(), err)
	}
	return reconciler.New(reconciler.Options{
		Config:  cfg,
		Service: svc,
		Hooks:   hooks.Runner{Dir: cfg.HooksDir, Timeout: cfg.Timeouts.Hook.Duration},
	})
}
