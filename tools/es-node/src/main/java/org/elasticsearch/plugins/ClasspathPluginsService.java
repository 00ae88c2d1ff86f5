package org.elasticsearch.plugins;

import org.elasticsearch.Version;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.jdk.ModuleQualifiedExportsService;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A PluginsService that ignores the modules/ and plugins/ directories and instead instantiates the given
 * plugin classes straight from the application classpath.
 *
 * <p>It lives in {@code org.elasticsearch.plugins} because {@link PluginsService.LoadedPlugin} and the
 * {@code plugins()} hook are package-private; on the classpath (unnamed module) the split package is legal.
 */
public class ClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> classpathPlugins;

    public ClasspathPluginsService(Settings settings, Path configPath, List<Class<? extends Plugin>> pluginClasses) {
        super(settings, configPath, null, null); // null dirs: load nothing from disk
        List<LoadedPlugin> loaded = new ArrayList<>();
        for (Class<? extends Plugin> clazz : pluginClasses) {
            PluginDescriptor descriptor = new PluginDescriptor(
                clazz.getName(),
                "classpath plugin " + clazz.getName(),
                "NA",
                Version.CURRENT.toString(),
                "17",
                clazz.getName(),
                null,          // not a named module
                List.of(),     // extends nothing
                false,
                false,
                false,
                false
            );
            loaded.add(new LoadedPlugin(descriptor, instantiate(clazz, settings, configPath)));
        }
        this.classpathPlugins = List.copyOf(loaded);
    }

    /** Same constructor conventions ES uses: (Settings, Path), (Settings) or no-arg. */
    private static Plugin instantiate(Class<? extends Plugin> clazz, Settings settings, Path configPath) {
        try {
            try {
                return clazz.getConstructor(Settings.class, Path.class).newInstance(settings, configPath);
            } catch (NoSuchMethodException e1) {
                try {
                    return clazz.getConstructor(Settings.class).newInstance(settings);
                } catch (NoSuchMethodException e2) {
                    return clazz.getConstructor().newInstance();
                }
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot instantiate plugin " + clazz.getName(), e);
        }
    }

    /**
     * The base class wires qualified exports of the named "org.elasticsearch.server" module; on the classpath
     * everything is in the unnamed module (no descriptor), so there is nothing to export.
     */
    @Override
    protected void addServerExportsService(Map<String, List<ModuleQualifiedExportsService>> qualifiedExports) {}

    @Override
    protected List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }
}
