package main

import (
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/better-paas/updater/hooks"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/reconciler"
)

// options are the flags every command shares, and what the root command
// sets up from them once, before any command runs (PersistentPreRunE).
type options struct {
	configPath  string
	logLevel    string
	logEncoding string

	// log is the logger the flags ask for; it is also in the context.
	log logr.Logger
	// cfg is updater.yaml and layout the state folder it names, whose
	// folders exist once a command runs; nil for commands that need no
	// config (annotated noConfig).
	cfg    *config.Config
	layout layout.Layout
}

// noConfig marks a command that reads no updater.yaml (validate).
const noConfig = "better-paas-updater/no-config"

// readOnly marks a command that only reads (plan, status, history): it
// loads updater.yaml but does not create the state folder's layout, so
// it writes nothing even on a new host.
const readOnly = "better-paas-updater/read-only"

// setUp builds the logger, loads updater.yaml and creates the state
// folder's layout, once for every command: none of them fails on a new
// host where the state folder does not exist yet. Commands marked readOnly
// get the layout without creating it.
func (o *options) setUp(cmd *cobra.Command) error {
	log, err := o.logger()
	if err != nil {
		return err
	}
	o.log = log
	cmd.SetContext(logr.NewContext(cmd.Context(), log))
	switch {
	case cmd.Annotations[noConfig] != "", cmd.Name() == "help", cmd.Name() == "completion", cmd.HasParent() && cmd.Parent().Name() == "completion",
		// The shell asks for completions through these hidden commands: they
		// must answer on a host without updater.yaml and create nothing.
		cmd.Name() == cobra.ShellCompRequestCmd, cmd.Name() == cobra.ShellCompNoDescRequestCmd:
		return nil
	}
	if o.cfg, err = config.Load(o.configPath); err != nil {
		return err
	}
	o.layout = layout.New(o.cfg)
	if cmd.Annotations[readOnly] != "" {
		return nil
	}
	return o.layout.Create()
}

func newRootCommand() *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:           "better-paas-updater",
		Short:         "Keep a Better-PaaS install at the version desired.yaml asks for",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return o.setUp(cmd)
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&o.configPath, "config", "/etc/better-paas/updater.yaml", "path of updater.yaml")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info or error")
	f.StringVar(&o.logEncoding, "log-encoding", "console", "log encoding: console or json")
	root.AddCommand(newRunCommand(o), newStatusCommand(o), newSetCommand(o), newRetryCommand(o), newRollbackCommand(o), newCheckCommand(o), newRepoCommand(o), newBackupsCommand(o), newTokenCommand(o), newValidateCommand(),
		newPlanCommand(o), newHistoryCommand(o), newVersionCommand(), newHooksCommand(o), newSelfUpdateCommand(o))
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

// newReconciler wires the reconciler for cfg: the embedded supervisor, the
// hooks folder, and events, the publisher of what it does (nil: none).
//
// The service's command and env come expanded from config.Load:
// $(INSTALL_DIR), $(DATA_DIR) and $(STATE_DIR) are cfg's folders, so the
// app's data folder is the one backed up. $(VERSION) is refused at load:
// the supervisor is built once, before any version is known.
func newReconciler(cfg *config.Config, events reconciler.Publisher) (*reconciler.Reconciler, error) {
	svc, err := newManager(cfg)
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
		Events:  events,
	})
}

// newManager returns the service manager updater.yaml chooses.
func newManager(cfg *config.Config) (service.Manager, error) {
	if cfg.Service.Manager == config.ManagerSystemd {
		return service.NewSystemd(service.SystemdConfig{
			Unit:        cfg.Service.Systemd.Unit,
			StopTimeout: cfg.Service.StopTimeout.Duration,
		})
	}
	l := layout.New(cfg)
	return service.NewExec(service.ExecConfig{
		Command:     cfg.Service.Exec.Command,
		Dir:         cfg.InstallDir,
		Env:         cfg.Service.Exec.Env,
		PIDFile:     l.PIDFile,
		LogFile:     l.ServiceLog,
		StopTimeout: cfg.Service.StopTimeout.Duration,
		Listen:      cfg.Service.Exec.Listen,
	})
}
